"""Litestar as its docs teach: handlers, msgspec Structs, Provide, a lifespan context."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from operator import itemgetter

import asyncpg
import msgspec
from litestar import Litestar, MediaType, get, post
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.response import Template
from litestar.template.config import TemplateConfig

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


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@get("/json")
async def json_() -> dict:
    return {"message": "Hello, World!"}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


@get("/db")
async def db() -> dict:
    row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
    return {"id": row[0], "randomNumber": row[1]}


@get("/queries")
async def queries(queries: str | None = None) -> list[dict]:
    ids = random.sample(range(1, 10001), clamp_queries(queries))
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
    return [{"id": r[0], "randomNumber": r[1]} for r in rows]


@get("/fortunes")
async def fortunes() -> Template:
    rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return Template(template_name="fortunes.html", context={"fortunes": rows})


@get("/updates")
async def updates(queries: str | None = None) -> list[dict]:
    ids = sorted(random.sample(range(1, 10001), clamp_queries(queries)))
    worlds = []
    async with pool.acquire() as conn:
        for i in ids:
            await conn.fetchrow(SELECT_WORLD, i)
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return worlds


@post("/items")
async def create_item(data: Item) -> Item:
    return data


async def get_conn():
    yield "conn"


async def get_repo(conn: str) -> dict:
    return {"conn": conn, "repo": "items"}


async def get_service(repo: dict) -> dict:
    return {"service": "svc", **repo}


@get(
    "/deps",
    dependencies={
        "conn": Provide(get_conn),
        "repo": Provide(get_repo),
        "service": Provide(get_service),
    },
)
async def deps(service: dict) -> dict:
    return service


@get("/io")
async def io() -> dict:
    await pool.execute(SLEEP)
    return {"waited_ms": 20}


@asynccontextmanager
async def lifespan(app: Litestar):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
    yield
    await pool.close()


app = Litestar(
    route_handlers=[json_, plaintext, db, queries, fortunes, updates, create_item, deps, io],
    lifespan=[lifespan],
    template_config=TemplateConfig(directory=TEMPLATES, engine=JinjaTemplateEngine),
)
