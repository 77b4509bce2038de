"""Carafe with sync handlers (run in its thread pool) and psycopg: the Flask comparison."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from operator import itemgetter

import jinja2
import msgspec
from psycopg_pool import ConnectionPool

from carafe import Carafe
from carafe.responses import HTMLResponse, PlainTextResponse
from suite.common import (
    ADDITIONAL_FORTUNE,
    DSN,
    POOL_MAX,
    POOL_MIN,
    SELECT_WORLD_PG,
    TEMPLATES,
    UPDATE_WORLD_PG,
    clamp_queries,
)  # fmt: skip

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "io"}
NOT_APPLICABLE = {"deps": "covered by the async Carafe app"}

pool: ConnectionPool
_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
).get_template("fortunes.html")


@asynccontextmanager
async def lifespan(app: Carafe):
    global pool
    pool = ConnectionPool(DSN, min_size=min(POOL_MIN, 4), max_size=POOL_MAX, open=True)
    yield
    pool.close()


app = Carafe(lifespan=lifespan)


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@app.get("/json")
def json_() -> dict:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
def plaintext() -> PlainTextResponse:
    return PlainTextResponse(b"Hello, World!")


@app.get("/db")
def db() -> dict:
    with pool.connection() as conn:
        row = conn.execute(SELECT_WORLD_PG, (random.randint(1, 10000),)).fetchone()
    return {"id": row[0], "randomNumber": row[1]}


@app.get("/queries")
def queries(queries: str | None = None) -> list[dict]:
    ids = random.sample(range(1, 10001), clamp_queries(queries))
    with pool.connection() as conn:
        rows = [conn.execute(SELECT_WORLD_PG, (i,)).fetchone() for i in ids]
    return [{"id": r[0], "randomNumber": r[1]} for r in rows]


@app.get("/fortunes")
def fortunes() -> HTMLResponse:
    with pool.connection() as conn:
        rows = [*conn.execute("SELECT id, message FROM fortune").fetchall(), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return HTMLResponse(_template.render(fortunes=rows))


@app.get("/updates")
def updates(queries: str | None = None) -> list[dict]:
    ids = sorted(random.sample(range(1, 10001), clamp_queries(queries)))
    worlds = []
    with pool.connection() as conn:
        for i in ids:
            conn.execute(SELECT_WORLD_PG, (i,)).fetchone()
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        with conn.cursor() as cur:
            cur.executemany(UPDATE_WORLD_PG, [(w["randomNumber"], w["id"]) for w in worlds])
    return worlds


@app.post("/items", status_code=201)
def create_item(item: Item) -> Item:
    return item


@app.get("/io")
def io() -> dict:
    with pool.connection() as conn:
        conn.execute("SELECT pg_sleep(0.02)")
    return {"waited_ms": 20}
