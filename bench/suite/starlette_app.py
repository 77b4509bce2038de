"""Starlette as its users write it: a route table, lifespan, hand validation."""

from __future__ import annotations

import random
from contextlib import asynccontextmanager
from operator import itemgetter

import asyncpg
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

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
)  # fmt: skip

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "io"}
NOT_APPLICABLE = {"deps": "Starlette has no dependency injection"}

pool: asyncpg.Pool
templates = Jinja2Templates(directory=TEMPLATES)


def clamp(request: Request) -> int:
    try:
        n = int(request.query_params.get("queries", "1"))
    except ValueError:
        return 1
    return min(max(n, 1), 500)


async def json_(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


async def db(request: Request) -> JSONResponse:
    row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
    return JSONResponse({"id": row[0], "randomNumber": row[1]})


async def queries(request: Request) -> JSONResponse:
    ids = random.sample(range(1, 10001), clamp(request))
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
    return JSONResponse([{"id": r[0], "randomNumber": r[1]} for r in rows])


async def fortunes(request: Request):
    rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": rows})


async def updates(request: Request) -> JSONResponse:
    ids = sorted(random.sample(range(1, 10001), clamp(request)))
    worlds = []
    async with pool.acquire() as conn:
        for i in ids:
            await conn.fetchrow(SELECT_WORLD, i)
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return JSONResponse(worlds)


def _invalid(msg: str) -> JSONResponse:
    return JSONResponse({"detail": msg}, status_code=422)


async def create_item(request: Request) -> JSONResponse:
    try:
        data = await request.json()
    except ValueError:
        return _invalid("body is not JSON")
    if not isinstance(data, dict):
        return _invalid("body must be an object")
    name, price, tags = data.get("name"), data.get("price"), data.get("tags", [])
    if not isinstance(name, str):
        return _invalid("name must be a string")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return _invalid("price must be a number")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _invalid("tags must be a list of strings")
    return JSONResponse({"name": name, "price": float(price), "tags": tags}, status_code=201)


async def io(request: Request) -> JSONResponse:
    await pool.execute(SLEEP)
    return JSONResponse({"waited_ms": 20})


@asynccontextmanager
async def lifespan(app: Starlette):
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
    yield
    await pool.close()


app = Starlette(
    routes=[
        Route("/json", json_),
        Route("/plaintext", plaintext),
        Route("/db", db),
        Route("/queries", queries),
        Route("/fortunes", fortunes),
        Route("/updates", updates),
        Route("/items", create_item, methods=["POST"]),
        Route("/io", io),
    ],
    lifespan=lifespan,
)
