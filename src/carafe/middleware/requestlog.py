"""``RequestLogMiddleware``: a request id for every request, and one log line per request.

    from carafe.middleware import RequestLogMiddleware

    app.add_middleware(RequestLogMiddleware)      # carafe run --log-format adds it too

Each request gets an id: the incoming ``X-Request-ID`` header when it is well formed
(1 to 128 characters among letters, digits and ``._:=+/-``; a proxy's id is kept),
otherwise 32 new random hex digits. The id is

- sent back in the response's ``X-Request-ID`` header;
- the request context's ``REQUEST_ID`` value (``context_of(request.scope).get(REQUEST_ID)``);
- ``carafe.logs.current_request_id()`` while the request is handled, in async and
  sync handlers alike, so ``carafe.logs.RequestIdFilter`` puts it on every log record.

When the request is over, the ``carafe.requests`` logger gets one INFO record:
``GET /items/3 200 1.2ms``, with ``method``, ``path``, ``route`` (the path template,
``/items/{item_id}``, when a route matched), ``status`` and ``duration_ms`` as record
attributes (``JSONFormatter`` writes them as fields). Websockets get an id, no line.
"""

from __future__ import annotations

import logging
import os
import re
import time
from typing import Any

from carafe.context import Slot, context_of
from carafe.logs import _request_id
from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REQUEST_ID", "RequestLogMiddleware"]

REQUEST_ID: Slot[str] = Slot("request_id")

_WELL_FORMED = re.compile(rb"[A-Za-z0-9._:=+/-]{1,128}")


class RequestLogMiddleware:
    """Give every request an id and log one line per request; see the module docstring.

    Args:
        app: The ASGI app to wrap.
        header: The request and response header that carries the id.
        trust_incoming: Keep a well-formed id the client (or a proxy) sent; False
            always makes a new one.
        logger: Where the request lines go (default ``carafe.requests``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        header: str = "X-Request-ID",
        trust_incoming: bool = True,
        logger: logging.Logger | None = None,
    ) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.trust_incoming = trust_incoming
        self.logger = logger or logging.getLogger("carafe.requests")

    def _incoming(self, scope: Scope) -> str | None:
        if self.trust_incoming:
            for name, value in scope["headers"]:
                if name == self.header:
                    return value.decode("ascii") if _WELL_FORMED.fullmatch(value) else None
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = self._incoming(scope) or os.urandom(16).hex()
        context_of(scope).set(REQUEST_ID, request_id)
        token = _request_id.set(request_id)
        try:
            if kind == "http":
                await self._http(scope, receive, send, request_id)
            else:
                await self.app(scope, receive, send)
        finally:
            _request_id.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        status = 500  # what the client gets if the app fails before it answers
        start = time.perf_counter()
        echoed = (self.header, request_id.encode("ascii"))

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), echoed]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.logger.isEnabledFor(logging.INFO):
                self._log(scope, status, (time.perf_counter() - start) * 1000)

    def _log(self, scope: Scope, status: int, duration_ms: float) -> None:
        route = context_of(scope).route
        method, path = scope["method"], scope.get("root_path", "") + scope["path"]
        fields: dict[str, Any] = {
            "method": method,
            "path": path,
            "route": route.path if route is not None else None,
            "status": status,
            "duration_ms": round(duration_ms, 3),
        }
        self.logger.info("%s %s %d %.1fms", method, path, status, duration_ms, extra=fields)
