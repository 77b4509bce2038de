"""Falcon (ASGI) as its users write it: resource classes, media handlers, a lifespan middleware."""

from __future__ import annotations

import random
from operator import itemgetter

import asyncpg
import falcon
import falcon.asgi
import jinja2

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
NOT_APPLICABLE = {"deps": "Falcon has no dependency injection"}

pool: asyncpg.Pool
template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
).get_template("fortunes.html")


def clamp(req: falcon.asgi.Request) -> int:
    return clamp_queries(req.get_param("queries"))


class Pool:
    """Lifespan middleware: Falcon's place for startup and shutdown work."""

    async def process_startup(self, scope, event):
        global pool
        pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)

    async def process_shutdown(self, scope, event):
        await pool.close()


class Json:
    async def on_get(self, req, resp):
        resp.media = {"message": "Hello, World!"}


class Plaintext:
    async def on_get(self, req, resp):
        resp.content_type = falcon.MEDIA_TEXT
        resp.text = "Hello, World!"


class Db:
    async def on_get(self, req, resp):
        row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
        resp.media = {"id": row[0], "randomNumber": row[1]}


class Queries:
    async def on_get(self, req, resp):
        ids = random.sample(range(1, 10001), clamp(req))
        async with pool.acquire() as conn:
            rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
        resp.media = [{"id": r[0], "randomNumber": r[1]} for r in rows]


class Fortunes:
    async def on_get(self, req, resp):
        rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
        rows.sort(key=itemgetter(1))
        resp.content_type = falcon.MEDIA_HTML
        resp.text = template.render(fortunes=rows)


class Updates:
    async def on_get(self, req, resp):
        ids = sorted(random.sample(range(1, 10001), clamp(req)))
        worlds = []
        async with pool.acquire() as conn:
            for i in ids:
                await conn.fetchrow(SELECT_WORLD, i)
                worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
            await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
        resp.media = worlds


class Items:
    async def on_post(self, req, resp):
        data = await req.get_media()
        if not isinstance(data, dict):
            raise falcon.HTTPUnprocessableEntity(description="body must be an object")
        name, price, tags = data.get("name"), data.get("price"), data.get("tags", [])
        if not isinstance(name, str):
            raise falcon.HTTPUnprocessableEntity(description="name must be a string")
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise falcon.HTTPUnprocessableEntity(description="price must be a number")
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise falcon.HTTPUnprocessableEntity(description="tags must be a list of strings")
        resp.status = falcon.HTTP_201
        resp.media = {"name": name, "price": float(price), "tags": tags}


class Io:
    async def on_get(self, req, resp):
        await pool.execute(SLEEP)
        resp.media = {"waited_ms": 20}


app = falcon.asgi.App(middleware=[Pool()])
app.add_route("/json", Json())
app.add_route("/plaintext", Plaintext())
app.add_route("/db", Db())
app.add_route("/queries", Queries())
app.add_route("/fortunes", Fortunes())
app.add_route("/updates", Updates())
app.add_route("/items", Items())
app.add_route("/io", Io())
