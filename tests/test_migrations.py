"""``carafe db``: Alembic migrations for an app's Database, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy
from click.testing import CliRunner, Result

from carafe.cli import main
from carafe.db import database_urls
from carafe.testing import TestClient
from tests.apps.notes_db import create_app


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'notes.db'}"
    return str(request.getfixturevalue("postgres_url"))


def db(url: str, directory: Path, *args: str) -> Result:
    target = f"tests.apps.notes_db:create_app({url!r}, create_tables=False)"
    return CliRunner().invoke(main, ["--app", target, "db", "-d", str(directory), *args])


def tables(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(database_urls(url)[1])
    try:
        return set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_init_revision_upgrade_and_back(database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "migrations"
    made = db(database_url, folder, "init")
    assert made.exit_code == 0, made.output
    assert {p.name for p in folder.iterdir()} == {"env.py", "script.py.mako", "README", "versions"}
    again = db(database_url, folder, "init")
    assert again.exit_code == 1 and "exists and is not empty" in again.output

    written = db(database_url, folder, "revision", "--autogenerate", "-m", "notes and tags")
    assert written.exit_code == 0, written.output
    (script,) = (folder / "versions").glob("*.py")
    text = script.read_text()
    assert '"""notes and tags' in text
    assert "op.create_table('notes'" in text and "op.create_table('tags'" in text

    revision = script.name.partition("_")[0]
    upgraded = db(database_url, folder, "upgrade")
    assert upgraded.exit_code == 0 and f"Running upgrade  -> {revision}, notes" in upgraded.output
    assert {"notes", "tags", "alembic_version"} <= tables(database_url)
    assert f"{revision} (head)" in db(database_url, folder, "current").output
    assert "notes and tags" in db(database_url, folder, "history").output
    checked = db(database_url, folder, "check")
    assert checked.exit_code == 0 and "No new upgrade operations detected" in checked.output

    app = create_app(database_url, create_tables=False)  # the app runs on the migrated schema
    with TestClient(app) as client:
        assert client.post("/notes", json={"text": "tea"}).status_code == 201

    assert db(database_url, folder, "downgrade").exit_code == 0
    assert tables(database_url) <= {"alembic_version"}
    assert "(head)" not in db(database_url, folder, "current").output


def test_sql_mode_prints_the_migration(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    folder = tmp_path / "migrations"
    db(url, folder, "init")
    db(url, folder, "revision", "--autogenerate", "-m", "first")
    shown = db(url, folder, "upgrade", "--sql")
    assert shown.exit_code == 0 and "CREATE TABLE notes" in shown.output
    assert not (tmp_path / "n.db").exists() or tables(url) <= {"alembic_version"}
    refused = db(url, folder, "downgrade", "--sql")
    assert refused.exit_code == 1 and "needs a range: FROM:TO" in refused.output


def test_mistakes_are_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'n.db'}"
    missing = db(url, tmp_path / "nowhere", "upgrade")
    assert missing.exit_code == 1
    assert (
        missing.output
        == f"Error: No migrations in {tmp_path / 'nowhere'}/: run `carafe db init` first\n"
    )
    folder = tmp_path / "migrations"
    db(url, folder, "init")
    unknown = db(url, folder, "upgrade", "nope")
    assert unknown.exit_code == 1 and "Traceback" not in unknown.output
    assert unknown.output.startswith("Error: ") and unknown.output.count("\n") == 1

    down = "postgresql://app:s3cret@127.0.0.1:9/shop"  # nothing listens on port 9
    refused = db(down, folder, "upgrade")
    assert refused.exit_code == 1 and refused.output.count("\n") == 1
    assert "postgresql+psycopg://app:***@127.0.0.1:9/shop" in refused.output
    assert "s3cret" not in refused.output
