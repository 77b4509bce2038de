"""What ``carafe.db`` costs per request over a session dependency written by hand.

    .venv/bin/python bench/db_integration.py                  # SQLite file in a temp dir
    .venv/bin/python bench/db_integration.py --url postgresql://user@127.0.0.1:5432/db
    .venv/bin/python bench/db_integration.py --json out.json

Two Carafe apps answer the same two routes with the same handler bodies. One takes its
``AsyncSession`` from the ``Database`` extension (by annotation; committed before the
response, 503 on an outage); the other from the dependency a FastAPI user writes::

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session
            await session.commit()

``/idle`` takes a session and does not use it (no connection is checked out): the
difference is the integration alone. ``/one`` runs ``SELECT 1`` and commits: the
integration next to a real round trip. Each app is called in-process (bench/inprocess.py's
harness and clock), blocks interleaved, the median block reported; each response is
checked before it is timed.
"""

# NOTE: no ``from __future__ import annotations``: by_hand's handlers name a local alias.

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from cases import Case  # noqa: E402
from inprocess import Lifespan, calibrate, time_block, verify  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine  # noqa: E402

from carafe import Carafe, Depends  # noqa: E402
from carafe.db import Database, database_urls  # noqa: E402

CASES = {
    "idle": Case("idle", "a session, unused", "GET", "/idle", expect_json=0),
    "one": Case("one", "SELECT 1 and commit", "GET", "/one", expect_json=1),
}


def with_database(url: str) -> Carafe:
    app = Carafe(extensions=[Database(url=url)], docs=None)

    @app.get("/idle")
    async def idle(session: AsyncSession) -> int:
        return 0

    @app.get("/one")
    async def one(session: AsyncSession) -> int:
        return (await session.execute(text("SELECT 1"))).scalar_one()

    return app


def by_hand(url: str) -> Carafe:
    engine = create_async_engine(database_urls(url)[0])
    sessions = async_sessionmaker(engine, expire_on_commit=False)

    async def get_session() -> AsyncIterator[AsyncSession]:
        async with sessions() as session:
            yield session
            await session.commit()

    Session = Annotated[AsyncSession, Depends(get_session, scope="function")]
    app = Carafe(docs=None)

    @app.on_shutdown
    async def dispose() -> None:
        await engine.dispose()

    @app.get("/idle")
    async def idle(session: Session) -> int:
        return 0

    @app.get("/one")
    async def one(session: Session) -> int:
        return (await session.execute(text("SELECT 1"))).scalar_one()

    return app


async def measure(url: str, rounds: int, target: float) -> dict[str, Any]:
    apps = {"carafe.db": with_database(url), "by hand": by_hand(url)}
    lifespans = {name: Lifespan(app) for name, app in apps.items()}
    for lifespan in lifespans.values():
        await lifespan.start()
    try:
        for name, app in apps.items():
            for case in CASES.values():
                problem = await verify(app, case, lifespans[name].state)
                if problem:
                    raise SystemExit(f"{name} {case.name}: {problem}")
        runs: dict[str, dict[str, list[float]]] = {c: {a: [] for a in apps} for c in CASES}
        for case in CASES.values():
            sizes = {
                a: await calibrate(app, case, lifespans[a].state, target) for a, app in apps.items()
            }
            for _ in range(rounds):  # interleaved: drift hits both alike
                for a, app in apps.items():
                    per = await time_block(app, case, lifespans[a].state, sizes[a])
                    runs[case.name][a].append(per * 1e6)
    finally:
        for lifespan in lifespans.values():
            await lifespan.close()
    return {
        case: {a: statistics.median(r) for a, r in by_app.items()} for case, by_app in runs.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="the database (default: SQLite in a temp dir)")
    parser.add_argument("--rounds", type=int, default=15, help="timed blocks per app and case")
    parser.add_argument("--target", type=float, default=0.2, help="seconds per block")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url = args.url or f"sqlite:///{folder}/bench.db"
        try:
            import uvloop

            uvloop.install()
        except ImportError:
            pass
        figures = asyncio.run(measure(url, args.rounds, args.target))
    backend = url.partition(":")[0]
    print(f"carafe.db against a hand-written session dependency ({backend}), µs per request")
    print(f"{'case':<24}{'carafe.db':>12}{'by hand':>12}{'difference':>12}")
    for name, by_app in figures.items():
        ours, theirs = by_app["carafe.db"], by_app["by hand"]
        print(f"{CASES[name].title:<24}{ours:>12.2f}{theirs:>12.2f}{ours - theirs:>+12.2f}")
    if args.json:
        args.json.write_text(json.dumps({"backend": backend, "us_per_request": figures}, indent=2))


if __name__ == "__main__":
    main()
