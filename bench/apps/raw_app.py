"""The floor: a hand-written ASGI app doing the same work with msgspec.

Dict routing for static paths, one split for ``/items/{id}``, msgspec decode into a
Struct and msgspec encode. No framework; what any framework has to add costs on top.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from apps import EXTRA_ROUTES

SUPPORTED = {"json", "plaintext", "path_query", "post_model", "deps"}
PENDING: dict[str, str] = {}

Send = Callable[[dict[str, Any]], Awaitable[None]]


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


_encode = msgspec.json.Encoder().encode
_item_decoder = msgspec.json.Decoder(Item)
_JSON = [(b"content-type", b"application/json")]
_TEXT = [(b"content-type", b"text/plain; charset=utf-8")]


async def _respond(send: Send, status: int, headers: list, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _read_body(receive: Callable[[], Awaitable[dict[str, Any]]]) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def json_(scope, receive, send):
    await _respond(send, 200, _JSON, _encode({"message": "Hello, World!"}))


async def plaintext(scope, receive, send):
    await _respond(send, 200, _TEXT, b"Hello, World!")


async def create_item(scope, receive, send):
    try:
        item = _item_decoder.decode(await _read_body(receive))
    except msgspec.ValidationError as exc:
        await _respond(send, 422, _JSON, _encode({"detail": str(exc)}))
        return
    await _respond(send, 201, _JSON, _encode(item))


async def deps(scope, receive, send):
    # The same three-step chain, written as plain calls: the cost a DI system adds is
    # whatever it costs above this.
    async def conn():
        yield "conn"

    gen = conn()
    c = await gen.__anext__()
    repo = {"conn": c, "repo": "items"}
    service = {"service": "svc", **repo}
    await _respond(send, 200, _JSON, _encode(service))
    await gen.aclose()


async def read_item(scope, receive, send, item_id: str):
    try:
        iid = int(item_id)
    except ValueError:
        await _respond(send, 422, _JSON, _encode({"detail": "item_id must be an integer"}))
        return
    q = None
    if scope["query_string"]:
        q = dict(parse_qsl(scope["query_string"].decode("latin-1"))).get("q")
    await _respond(send, 200, _JSON, _encode({"item_id": iid, "q": q}))


async def _other(scope, receive, send, *args):
    await _respond(send, 200, _JSON, b"{}")


STATIC = {("GET", "/json"): json_, ("GET", "/plaintext"): plaintext}
STATIC[("POST", "/items")] = create_item
STATIC[("GET", "/deps")] = deps
DYNAMIC = {"items": read_item}
for _i in range(0, EXTRA_ROUTES, 2):
    STATIC[("GET", f"/r{_i}")] = _other
for _i in range(1, EXTRA_ROUTES, 2):
    DYNAMIC[f"r{_i}"] = _other


async def _not_found(send: Send) -> None:
    await _respond(send, 404, _TEXT, b"Not Found")


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    handler = STATIC.get((scope["method"], path))
    if handler is not None:
        await handler(scope, receive, send)
        return
    parts = path.split("/")
    if len(parts) == 3 and scope["method"] == "GET":
        handler = DYNAMIC.get(parts[1])
        if handler is not None:
            await handler(scope, receive, send, parts[2])
            return
    await _not_found(send)
