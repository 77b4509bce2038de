"""Carafe, written against its public API: typed handlers, msgspec Structs, Depends.

Carafe has no ORM; the pool is asyncpg's, opened in the lifespan. The fortunes page is
rendered by ``carafe.web.templating`` (Jinja2 underneath).
"""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from operator import itemgetter
from typing import Annotated

import asyncpg
import msgspec

from carafe import Carafe, Depends, Request
from carafe.responses import HTMLResponse, PlainTextResponse
from carafe.web.templating import Templates
from suite.common import (
    ADDITIONAL_FORTUNE,
    DSN,
    POOL_MAX,
    POOL_MIN,
    SELECT_FORTUNES,
    SELECT_WORLD,
    SLEEP,
    TEMPLATES,
    UPDATE_WORLD,
    clamp_queries,
)  # fmt: skip

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "deps", "io"}

pool: asyncpg.Pool
templates = Templates(TEMPLATES)


@asynccontextmanager
async def lifespan(app: Carafe):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
    yield
    await pool.close()


app = Carafe(lifespan=lifespan)


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@app.get("/json")
async def json_() -> dict:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse(b"Hello, World!")


@app.get("/db")
async def db() -> dict:
    row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
    return {"id": row[0], "randomNumber": row[1]}


@app.get("/queries")
async def queries(queries: str | None = None) -> list[dict]:
    ids = random.sample(range(1, 10001), clamp_queries(queries))
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
    return [{"id": r[0], "randomNumber": r[1]} for r in rows]


@app.get("/fortunes")
async def fortunes(request: Request) -> HTMLResponse:
    rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return await templates.render(request, "fortunes.html", fortunes=rows)


@app.get("/updates")
async def updates(queries: str | None = None) -> list[dict]:
    ids = sorted(random.sample(range(1, 10001), clamp_queries(queries)))
    worlds = []
    async with pool.acquire() as conn:
        for i in ids:
            await conn.fetchrow(SELECT_WORLD, i)
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return worlds


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


async def get_conn():
    yield "conn"


async def get_repo(conn: Annotated[str, Depends(get_conn)]) -> dict:
    return {"conn": conn, "repo": "items"}


async def get_service(repo: Annotated[dict, Depends(get_repo)]) -> dict:
    return {"service": "svc", **repo}


@app.get("/deps")
async def deps(service: Annotated[dict, Depends(get_service)]) -> dict:
    return service


@app.get("/io")
async def io() -> dict:
    await pool.execute(SLEEP)
    return {"waited_ms": 20}
