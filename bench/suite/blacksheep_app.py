"""BlackSheep as its docs teach: decorated handlers, FromJSON/FromQuery bindings."""

from __future__ import annotations

import random
from operator import itemgetter

import asyncpg
import jinja2
from blacksheep import Application, FromJSON, Request, get, html, json, post, text
from pydantic import BaseModel

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

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "io"}
NOT_APPLICABLE = {
    "deps": "BlackSheep's DI (rodi) resolves services by type, not per-request yield chains"
}

app = Application()
pool: asyncpg.Pool
# BlackSheep's view() appends ".jinja" to template names; its users with .html
# templates use Jinja2 directly, as here.
template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
).get_template("fortunes.html")


# BlackSheep binds dataclasses without checking types; its docs point to pydantic
# models for validated bodies.
class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


def clamp(request: Request) -> int:
    return clamp_queries(request.query.get("queries", [None])[0])


@app.lifespan
async def db_pool():
    global pool
    pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
    yield
    await pool.close()


@get("/json")
async def json_():
    return json({"message": "Hello, World!"})


@get("/plaintext")
async def plaintext():
    return text("Hello, World!")


@get("/db")
async def db():
    row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
    return json({"id": row[0], "randomNumber": row[1]})


@get("/queries")
async def queries(request: Request):
    ids = random.sample(range(1, 10001), clamp(request))
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
    return json([{"id": r[0], "randomNumber": r[1]} for r in rows])


@get("/fortunes")
async def fortunes():
    rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return html(template.render(fortunes=rows))


@get("/updates")
async def updates(request: Request):
    ids = sorted(random.sample(range(1, 10001), clamp(request)))
    worlds = []
    async with pool.acquire() as conn:
        for i in ids:
            await conn.fetchrow(SELECT_WORLD, i)
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    return json(worlds)


@post("/items")
async def create_item(item: FromJSON[Item]):
    return json(item.value.model_dump(), status=201)


@get("/io")
async def io():
    await pool.execute(SLEEP)
    return json({"waited_ms": 20})
