"""The floor: a hand-written ASGI app, asyncpg, msgspec, Jinja2, dict routing."""

from __future__ import annotations

import random
from operator import itemgetter
from urllib.parse import parse_qs

import asyncpg
import jinja2
import msgspec

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

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "deps", "io"}


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


pool: asyncpg.Pool | None = None
_encode = msgspec.json.Encoder().encode
_decode_item = msgspec.json.Decoder(Item).decode
_template = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True
).get_template("fortunes.html")
_JSON = (b"content-type", b"application/json")
_TEXT = (b"content-type", b"text/plain; charset=utf-8")
_HTML = (b"content-type", b"text/html; charset=utf-8")


async def _send(send, body: bytes, ctype: tuple[bytes, bytes], status: int = 200) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [ctype, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _queries(scope) -> int:
    raw = parse_qs(scope["query_string"].decode("latin-1")).get("queries", ["1"])[0]
    try:
        n = int(raw)
    except ValueError:
        return 1
    return min(max(n, 1), 500)


async def json_(scope, receive, send):
    await _send(send, _encode({"message": "Hello, World!"}), _JSON)


async def plaintext(scope, receive, send):
    await _send(send, b"Hello, World!", _TEXT)


async def db(scope, receive, send):
    row = await pool.fetchrow(SELECT_WORLD, random.randint(1, 10000))
    await _send(send, _encode({"id": row[0], "randomNumber": row[1]}), _JSON)


async def queries(scope, receive, send):
    ids = random.sample(range(1, 10001), _queries(scope))
    async with pool.acquire() as conn:
        rows = [await conn.fetchrow(SELECT_WORLD, i) for i in ids]
    await _send(send, _encode([{"id": r[0], "randomNumber": r[1]} for r in rows]), _JSON)


async def fortunes(scope, receive, send):
    rows = [*await pool.fetch(SELECT_FORTUNES), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    await _send(send, _template.render(fortunes=rows).encode(), _HTML)


async def updates(scope, receive, send):
    ids = sorted(random.sample(range(1, 10001), _queries(scope)))
    worlds = []
    async with pool.acquire() as conn:
        for i in ids:
            await conn.fetchrow(SELECT_WORLD, i)
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        await conn.executemany(UPDATE_WORLD, [(w["id"], w["randomNumber"]) for w in worlds])
    await _send(send, _encode(worlds), _JSON)


async def post(scope, receive, send):
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            break
    try:
        item = _decode_item(b"".join(chunks))
    except msgspec.DecodeError as exc:
        await _send(send, _encode({"detail": str(exc)}), _JSON, 422)
        return
    await _send(send, _encode(item), _JSON, 201)


async def deps(scope, receive, send):
    async def conn():
        yield "conn"

    gen = conn()
    repo = {"conn": await gen.__anext__(), "repo": "items"}
    await _send(send, _encode({"service": "svc", **repo}), _JSON)
    await gen.aclose()


async def io(scope, receive, send):
    await pool.execute(SLEEP)
    await _send(send, b'{"waited_ms":20}', _JSON)


ROUTES = {
    ("GET", "/json"): json_,
    ("GET", "/plaintext"): plaintext,
    ("GET", "/db"): db,
    ("GET", "/queries"): queries,
    ("GET", "/fortunes"): fortunes,
    ("GET", "/updates"): updates,
    ("POST", "/items"): post,
    ("GET", "/deps"): deps,
    ("GET", "/io"): io,
}


async def app(scope, receive, send):
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(DSN, min_size=POOL_MIN, max_size=POOL_MAX)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    handler = ROUTES.get((scope["method"], scope["path"]))
    if handler is None:
        await _send(send, b"Not Found", _TEXT, 404)
        return
    await handler(scope, receive, send)
