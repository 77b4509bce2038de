"""What each shipped middleware adds to a request, in-process, next to Starlette's.

    .venv/bin/python bench/middleware.py

One JSON route (GET /json) behind no middleware, a do-nothing middleware, and each of
Carafe's middleware; Starlette's equivalents for comparison. Then what ``carafe run``
wraps around every app (``BodyTimeoutMiddleware``, outside the app), on GET /json and
on POST /items with a JSON body, next to the bare app. Every app is called as an
ASGI callable with a fresh scope; blocks of calls are interleaved across apps so drift
hits all alike, and the fastest block is reported (microseconds per request), as the
least disturbed by other load on the machine.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware as StarletteCORS
from starlette.middleware.gzip import GZipMiddleware as StarletteGZip
from starlette.middleware.trustedhost import TrustedHostMiddleware as StarletteTrustedHost
from starlette.responses import JSONResponse
from starlette.routing import Route

from carafe import Carafe
from carafe.logs import JSONFormatter, RequestIdFilter
from carafe.middleware import (
    BodyTimeoutMiddleware,
    CORSMiddleware,
    GZipMiddleware,
    RequestLogMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)


class Item(msgspec.Struct):
    name: str
    price: float


ORIGIN = "https://a.example"
PLAIN = [(b"host", b"example.com")]
CROSS = [*PLAIN, (b"origin", ORIGIN.encode()), (b"accept-encoding", b"gzip, deflate, br")]


def passthrough(app: Any) -> Any:
    async def middleware(scope: Any, receive: Any, send: Any) -> None:
        await app(scope, receive, send)

    return middleware


class FormatOnly(logging.Handler):
    """Formats each record as a JSON line (with its request id), writes it nowhere."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JSONFormatter())
        self.addFilter(RequestIdFilter())

    def emit(self, record: logging.LogRecord) -> None:
        self.format(record)


def request_logger(name: str, handler: logging.Handler) -> logging.Logger:
    """A logger at INFO with only ``handler``: the request line's cost without the I/O."""
    logger = logging.getLogger(f"bench.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    logger.addHandler(handler)
    return logger


def carafe_app(middleware: list[tuple[Callable[..., Any], dict[str, Any]]]) -> Any:
    app = Carafe()

    @app.get("/json")
    async def json() -> dict[str, str]:
        return {"message": "Hello, World!"}

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    for cls, options in middleware:
        app.add_middleware(cls, **options)
    app.compile()
    return app


def starlette_app(middleware: list[tuple[Any, dict[str, Any]]]) -> Any:
    async def json(request: Any) -> JSONResponse:
        return JSONResponse({"message": "Hello, World!"})

    return Starlette(
        routes=[Route("/json", json)], middleware=[Middleware(c, **o) for c, o in middleware]
    )


CASES: dict[str, tuple[list[Any], list[Any] | None, list[tuple[bytes, bytes]]]] = {
    # name: (Carafe middleware, Starlette middleware or None, request headers)
    "no middleware": ([], [], PLAIN),
    "do-nothing middleware": ([(passthrough, {})], [(passthrough, {})], PLAIN),
    "CORS, no Origin": (
        [(CORSMiddleware, {"allow_origins": [ORIGIN]})],
        [(StarletteCORS, {"allow_origins": [ORIGIN]})],
        PLAIN,
    ),
    "CORS, allowed Origin": (
        [(CORSMiddleware, {"allow_origins": [ORIGIN]})],
        [(StarletteCORS, {"allow_origins": [ORIGIN]})],
        CROSS,
    ),
    "GZip, body under minimum": ([(GZipMiddleware, {})], [(StarletteGZip, {})], CROSS),
    "TrustedHost": (
        [(TrustedHostMiddleware, {"allowed_hosts": ["example.com"]})],
        [(StarletteTrustedHost, {"allowed_hosts": ["example.com"]})],
        PLAIN,
    ),
    "SecurityHeaders": ([(SecurityHeadersMiddleware, {})], None, PLAIN),
    "RequestLog, logger quiet": ([(RequestLogMiddleware, {})], None, PLAIN),
    "RequestLog, record dropped": (
        [(RequestLogMiddleware, {"logger": request_logger("dropped", logging.NullHandler())})],
        None,
        PLAIN,
    ),
    "RequestLog, JSON formatted": (
        [(RequestLogMiddleware, {"logger": request_logger("json", FormatOnly())})],
        None,
        PLAIN,
    ),
}


async def receive() -> dict[str, Any]:
    return {"type": "http.request", "body": b"", "more_body": False}


ITEM = b'{"name":"x","price":1.5}'
JSON_BODY = [*PLAIN, (b"content-type", b"application/json"), (b"content-length", b"24")]


async def receive_item() -> dict[str, Any]:
    return {"type": "http.request", "body": ITEM, "more_body": False}


GET = ("GET", "/json", receive)
POST = ("POST", "/items", receive_item)
AROUND: dict[str, tuple[bool, tuple[Any, ...], list[tuple[bytes, bytes]]]] = {
    # name: (wrapped in BodyTimeoutMiddleware, request, request headers)
    "bare app, GET": (False, GET, PLAIN),
    "BodyTimeout around it, GET": (True, GET, PLAIN),
    "bare app, POST JSON body": (False, POST, JSON_BODY),
    "BodyTimeout around it, POST": (True, POST, JSON_BODY),
}


async def send(message: dict[str, Any]) -> None:
    return None


async def block(
    app: Any, headers: list[tuple[bytes, bytes]], calls: int, request: tuple[Any, ...] = GET
) -> float:
    method, path, body = request
    start = time.perf_counter()
    for _ in range(calls):
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": headers,
            "server": ("example.com", 80),
            "client": ("127.0.0.1", 50000),
            "state": {},
        }
        await app(scope, body, send)
    return (time.perf_counter() - start) / calls * 1e6


async def main(blocks: int = 30, calls: int = 3000) -> None:
    apps: dict[tuple[str, str], tuple[Any, list[tuple[bytes, bytes]]]] = {}
    for name, (ours, theirs, headers) in CASES.items():
        apps[(name, "carafe")] = (carafe_app(ours), headers)
        if theirs is not None:
            apps[(name, "starlette")] = (starlette_app(theirs), headers)
    best = dict.fromkeys(apps, float("inf"))
    for app, headers in apps.values():
        await block(app, headers, 500)  # warm up
    for _ in range(blocks):
        for key, (app, headers) in apps.items():
            best[key] = min(best[key], await block(app, headers, calls))
    print(f"{'case':28s} {'carafe':>9s} {'starlette':>10s}   (us per request, best block)")
    for name in CASES:
        ours = best[(name, "carafe")]
        theirs = best.get((name, "starlette"))
        shown = f"{theirs:10.2f}" if theirs is not None else f"{'-':>10s}"
        print(f"{name:28s} {ours:9.2f} {shown}")
    await around(blocks, calls)


async def around(blocks: int, calls: int) -> None:
    """What carafe run wraps around the app, outside it (no Carafe middleware chain)."""
    bare = carafe_app([])
    apps = {
        name: (BodyTimeoutMiddleware(bare) if wrapped else bare, request, headers)
        for name, (wrapped, request, headers) in AROUND.items()
    }
    best = dict.fromkeys(apps, float("inf"))
    for app, request, headers in apps.values():
        await block(app, headers, 500, request)  # warm up
    for _ in range(blocks):
        for name, (app, request, headers) in apps.items():
            best[name] = min(best[name], await block(app, headers, calls, request))
            await asyncio.sleep(0)  # a server's loop turns between requests
    print(f"\n{'carafe run wraps':28s} {'carafe':>9s}")
    for name, figure in best.items():
        print(f"{name:28s} {figure:9.2f}")


if __name__ == "__main__":
    asyncio.run(main())
