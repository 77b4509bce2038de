"""What every suite app shares: the database address, pool size, SQL and constants."""

from __future__ import annotations

import os
from pathlib import Path

#: Set by bench/run_suite.py once its private PostgreSQL cluster is up.
DSN = os.environ.get(
    "BENCH_PG_DSN", "postgresql://benchmarkdbuser:benchmarkdbpass@127.0.0.1:5432/hello_world"
)
#: Every app's pool, async or sync, has this many connections at most (and at least
#: POOL_MIN): pools sized alike.
POOL_MAX = int(os.environ.get("BENCH_POOL_MAX", "64"))
POOL_MIN = int(os.environ.get("BENCH_POOL_MIN", "8"))

TEMPLATES = Path(__file__).resolve().parent / "templates"

# asyncpg placeholders ($1); the psycopg apps use the %s versions.
SELECT_WORLD = "SELECT id, randomnumber FROM world WHERE id = $1"
UPDATE_WORLD = "UPDATE world SET randomnumber = $2 WHERE id = $1"
SELECT_FORTUNES = "SELECT id, message FROM fortune"
SLEEP = "SELECT pg_sleep(0.02)"

SELECT_WORLD_PG = "SELECT id, randomnumber FROM world WHERE id = %s"
UPDATE_WORLD_PG = "UPDATE world SET randomnumber = %s WHERE id = %s"

ADDITIONAL_FORTUNE = (0, "Additional fortune added at request time.")
WORLD_ROWS = 10_000


def clamp_queries(queries: str | None) -> int:
    """TechEmpower's rule for ``?queries=``: an integer clamped to 1..500; anything else is 1."""
    try:
        n = int(queries)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1
    return min(max(n, 1), 500)
