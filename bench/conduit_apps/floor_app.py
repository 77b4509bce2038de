"""Conduit's two article reads as a raw ASGI app: the floor of bench/conduit.py.

No framework: the scope's path and query read by hand, one transaction on an
``AsyncConnection``, the example's own statements and views, msgspec's encoder. What
any framework running these SQLAlchemy statements costs at least; the distance from it
to each app is that app's own cost.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import parse_qsl

import msgspec
from examples.conduit import services
from sqlalchemy.ext.asyncio import create_async_engine

from carafe.db import database_urls, engine_options

URL = database_urls(os.environ["CONDUIT_DATABASE_URL"])[0]
engine = create_async_engine(URL, **engine_options(URL, {}))  # carafe.db's pool, as Carafe's
encode = msgspec.json.Encoder().encode
PREFIX = "/api/articles"
JSON = [(b"content-type", b"application/json")]


async def answer(send: Any, status: int, body: bytes) -> None:
    headers = [*JSON, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def articles(query: dict[str, str]) -> bytes | None:
    try:
        limit, offset = int(query.get("limit", 20)), int(query.get("offset", 0))
    except ValueError:
        return None
    if not (1 <= limit <= 100 and offset >= 0):
        return None
    filters = {name: query.get(name) for name in ("tag", "author", "favorited")}
    async with engine.begin() as connection:
        page = services.article_page(None, limit=limit, offset=offset, **filters)
        rows = (await connection.execute(*page)).all()
        if rows:
            total = rows[0].total
        else:
            total = (await connection.execute(*services.article_count(**filters))).scalar()
    return encode({"articles": services.article_summaries(rows), "articlesCount": total or 0})


async def article(slug: str) -> bytes | None:
    async with engine.begin() as connection:
        row = (await connection.execute(*services.article_by_slug(None, slug))).first()
    return None if row is None else encode({"article": services.article_view(row)})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await engine.dispose()
        await send({"type": "lifespan.shutdown.complete"})
        return
    path = scope["path"]
    body: bytes | None = None
    if scope["method"] == "GET" and path == PREFIX:
        body = await articles(dict(parse_qsl(scope["query_string"].decode("latin-1"))))
        if body is None:
            return await answer(send, 422, b'{"errors":{"query":["is invalid"]}}')
    elif scope["method"] == "GET" and path.startswith(PREFIX + "/"):
        slug = path[len(PREFIX) + 1 :]
        body = None if "/" in slug else await article(slug)
    if body is None:
        return await answer(send, 404, b'{"errors":{"article":["not found"]}}')
    return await answer(send, 200, body)
