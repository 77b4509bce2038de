"""carafe.db: the engine with the app, one transaction per request, 503 when the
database is away; on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.pool import NullPool

from carafe import Carafe
from carafe.db import DEFAULT_POOL, Database, database_urls, engine_options, mask_url
from carafe.exceptions import ConfigurationError
from carafe.lifespan import LifespanError
from carafe.testing import AsyncTestClient, TestClient
from tests.apps.notes_db import create_app, db
from tests.conftest import free_port
from tests.postgres import PostgresServer


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notes.db'}"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = create_app(database_url)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_a_request_commits_before_the_response(client: TestClient) -> None:
    created = client.post("/notes", json={"text": "tea"})
    assert created.status_code == 201 and created.json() == {"id": 1, "text": "tea"}
    assert client.get("/notes").json() == [{"id": 1, "text": "tea"}]
    assert client.get("/notes/count").json() == 1  # the sync Session sees it too
    assert client.post("/notes/sync", json={"text": "coffee"}).status_code == 201
    assert [n["text"] for n in client.get("/notes").json()] == ["tea", "coffee"]


def test_an_error_rolls_the_whole_request_back(client: TestClient) -> None:
    refused = client.post("/notes/then-fail", json={"text": "tea"})
    assert refused.status_code == 409 and refused.json()["detail"] == "changed my mind"
    assert client.get("/notes").json() == []  # flushed, then rolled back
    client.post("/notes", json={"text": "tea"})
    duplicate = client.post("/notes", json={"text": "tea"})  # unique: fails at the flush
    assert duplicate.status_code == 500 and "Traceback" not in duplicate.text
    assert len(client.get("/notes").json()) == 1


def test_a_commit_that_fails_is_the_response(client: TestClient) -> None:
    failed = client.post("/notes/dangling-tag")  # the foreign key is checked at the commit
    assert failed.status_code == 500 and "written?" not in failed.text
    assert "notes" not in failed.text and "Traceback" not in failed.text


def test_the_url_comes_from_the_config_with_a_driver_filled_in(tmp_path: Path) -> None:
    app = create_app(f"sqlite:///{tmp_path / 'x.db'}")
    assert db.url_for(app).drivername == "sqlite+aiosqlite"
    assert db.sync_url_for(app).drivername == "sqlite+pysqlite"
    assert str(Database(url="sqlite:///y.db").url_for(create_app())) == "sqlite+aiosqlite:///y.db"
    assert [str(u) for u in database_urls("postgresql+psycopg://a@h/d")] == [
        "postgresql+psycopg://a@h/d",
        "postgresql+psycopg://a@h/d",
    ]
    assert mask_url("postgresql://app:s3cret@db/shop") == "postgresql://app:***@db/shop"
    with pytest.raises(ConfigurationError, match="No default drivers for 'oracle'"):
        database_urls("oracle://a@h/d")


def test_the_pool_is_ours_until_the_options_size_it() -> None:
    pg, lite = database_urls("postgresql://a@h/d")[0], database_urls("sqlite:///x.db")[0]
    assert engine_options(pg, {"echo": True}) == {**DEFAULT_POOL, "echo": True}
    assert engine_options(pg, {"pool_size": 20}) == {"pool_size": 20}  # SQLAlchemy's overflow
    assert engine_options(pg, {"poolclass": NullPool}) == {"poolclass": NullPool}
    assert engine_options(lite, {}) == {}  # SQLite keeps SQLAlchemy's choice


def _backends(server: PostgresServer, database: str) -> set[str]:
    """The process ids of the connections open to ``database``."""
    rows = server.psql(f"SELECT pid FROM pg_stat_activity WHERE datname = '{database}'")
    return set(rows.split())


@pytest.mark.parametrize("options", [{}, {"pool_size": 5, "max_overflow": 10}])
def test_a_servers_pool_keeps_what_it_opens(
    postgres_server: PostgresServer, options: dict[str, int]
) -> None:
    url = postgres_server.create_database(f"pool_{len(options)}")
    app = Carafe(extensions=[Database(url=url, engine_options=options)], docs=None)

    @app.get("/slow")
    async def slow(session: AsyncSession) -> int:  # holds its connection for 50 ms
        return int((await session.execute(text("SELECT 1 FROM pg_sleep(0.05)"))).scalar_one())

    async def two_bursts() -> list[set[str]]:
        open_after: list[set[str]] = []
        async with AsyncTestClient(app) as client:
            for _ in range(2):
                answers = await asyncio.gather(*(client.get("/slow") for _ in range(30)))
                assert [a.status_code for a in answers] == [200] * 30
                open_after.append(_backends(postgres_server, f"pool_{len(options)}"))
        return open_after

    first, second = asyncio.run(two_bursts())
    if not options:  # DEFAULT_POOL: the first burst opens 15, and the same 15 serve the next
        assert len(first) == DEFAULT_POOL["pool_size"]
        assert second == first
    else:  # SQLAlchemy's own sizing: 5 kept, the other 10 closed as they come back
        assert len(first) == len(second) == 5


def test_a_database_that_is_down_at_startup_is_one_clear_error() -> None:
    app = create_app("postgresql://app:s3cret@127.0.0.1:9/shop")  # nothing listens on 9
    with pytest.raises(LifespanError) as raised, TestClient(app):
        pass
    message = str(raised.value)
    assert message.startswith(
        "ConfigurationError: Cannot connect to the database postgresql+asyncpg://app:***@"
    )
    assert "s3cret" not in message and "\n" not in message
    app = create_app("not a url")
    with pytest.raises(LifespanError, match="DATABASE_URL is not a database URL"):
        with TestClient(app):
            pass


def test_carafe_run_stops_with_one_line_when_the_database_is_down(tmp_path: Path) -> None:
    target = "tests.apps.notes_db:create_app('postgresql://app:s3cret@127.0.0.1:9/shop')"
    done = subprocess.run(
        [sys.executable, "-m", "carafe", "run", target, "--port", str(free_port())],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parent.parent,
    )
    assert done.returncode == 3
    assert "Cannot connect to the database postgresql+asyncpg://app:***@127.0.0.1:9/shop" in (
        done.stderr + done.stdout
    )
    said = (done.stderr + done.stdout).splitlines()
    assert not [line for line in said if "Traceback" in line]
    assert [line for line in said if "s3cret" in line] == [  # only the command line's echo
        line for line in said if line.startswith("Carafe serving")
    ]


def test_a_database_that_goes_away_mid_run_is_a_503(
    postgres_server: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    directory = Path(tempfile.mkdtemp(prefix="carafe-pg-"))  # the postgres user reads it
    own = PostgresServer.start(directory, free_port())
    try:
        url = own.create_database("shop").replace("postgres@", "postgres:pw@")
        app = create_app(url)
        with TestClient(app, raise_server_exceptions=False) as client:
            assert client.post("/notes", json={"text": "tea"}).status_code == 201
            own.stop()
            with caplog.at_level(logging.WARNING, "carafe.db"):
                down = client.get("/notes")
                down_sync = client.get("/notes/count")
            assert down.status_code == 503 and down.headers["retry-after"] == "5"
            assert (
                down.json()["detail"] == "The database is unavailable right now; try again shortly."
            )
            assert down_sync.status_code == 503
            assert "pw" not in caplog.text and "postgres:***@" in caplog.text
            own = PostgresServer.start(directory, own.port, initialise=False)
            assert client.get("/notes").json() == [{"id": 1, "text": "tea"}]  # serving again
    finally:
        own.stop()
        shutil.rmtree(directory, ignore_errors=True)


def test_rolled_back_leaves_the_database_as_it_was(database_url: str) -> None:
    app = create_app(database_url)
    with db.rolled_back(), TestClient(app) as client:
        assert client.post("/notes", json={"text": "tea"}).status_code == 201
        assert client.post("/notes/then-fail", json={"text": "x"}).status_code == 409
        assert [n["text"] for n in client.get("/notes").json()] == ["tea"]
    app = create_app(database_url, create_tables=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/notes").status_code == 500  # no table: it was rolled back too
