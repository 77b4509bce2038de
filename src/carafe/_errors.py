"""Turning exceptions into responses: registered handlers first, then problem+json.

An ``HTTPError`` becomes its problem document. Anything else is logged with its
traceback and answered with a bare 500; the traceback reaches the client only when the
app runs with ``debug=True``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from carafe._concurrency import IO_POOL, ThreadPool, call_kind
from carafe.context import RAISE_KEY
from carafe.exceptions import ClientDisconnect, HTTPError
from carafe.requests import Request
from carafe.responses import ProblemResponse, Response

if TYPE_CHECKING:
    from carafe.types import Send

__all__ = ["ErrorHandlers", "logger"]

logger = logging.getLogger("carafe")

ExceptionHandler = Callable[[Request, Any], Response | Awaitable[Response]]


class ErrorHandlers:
    """The app's ``@exception_handler`` table, keyed by exception class or status code."""

    def __init__(self, debug: bool = False, pool: ThreadPool = IO_POOL) -> None:
        self.debug = debug
        self.pool = pool  # runs sync exception handlers
        self.by_class: dict[type[BaseException], ExceptionHandler] = {}
        self.by_status: dict[int, ExceptionHandler] = {}

    def add(self, key: type[BaseException] | int, handler: ExceptionHandler) -> None:
        if isinstance(key, int):
            self.by_status[key] = handler
        else:
            self.by_class[key] = handler

    def _find(self, exc: BaseException) -> ExceptionHandler | None:
        if isinstance(exc, HTTPError) and exc.status_code in self.by_status:
            return self.by_status[exc.status_code]
        for cls in type(exc).__mro__:
            handler = self.by_class.get(cls)
            if handler is not None:
                return handler
        return None

    async def response_for(self, exc: BaseException, request: Request) -> Response | None:
        """The response for ``exc``, or None when the client is gone."""
        if isinstance(exc, ClientDisconnect):
            return None
        handler = self._find(exc)
        if handler is not None:
            try:
                if call_kind(handler) == "async":
                    return await handler(request, exc)  # type: ignore[no-any-return,misc]
                return await self.pool.run(handler, request, exc)  # type: ignore[arg-type]
            except Exception as handler_error:
                exc = handler_error
                if isinstance(exc, HTTPError):
                    return ProblemResponse.from_error(exc)
        elif isinstance(exc, HTTPError):
            return ProblemResponse.from_error(exc)
        return self.server_error(exc, request)

    def server_error(self, exc: BaseException, request: Request) -> Response:
        logger.error("Unhandled error in %s %s", request.method, request.path, exc_info=exc)
        if request.scope.get(RAISE_KEY):
            raise exc
        if self.debug:
            from carafe import debug

            return debug.error_response(exc, request)
        return ProblemResponse(
            {
                "type": "about:blank",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "The server failed to answer this request.",
            },
            status_code=500,
        )

    async def send(self, exc: BaseException, request: Request, send: Send) -> None:
        response = await self.response_for(exc, request)
        if response is not None:
            await response(request.scope, request.receive, send)
        elif isinstance(exc, ClientDisconnect):
            await send_unfinished_body(request, send)


async def send_unfinished_body(request: Request, send: Send) -> None:
    """Answer a body that ended in a disconnect with a 400, in case the client is there.

    A client that really left never reads it (uvicorn drops it); granian reports a body
    it could not read (10,000 trailers) as a disconnect while the client waits.
    """
    error = HTTPError(400, "The request body ended before it was complete.")
    with contextlib.suppress(Exception):
        await ProblemResponse.from_error(error)(request.scope, request.receive, send)
