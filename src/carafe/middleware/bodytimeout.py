"""``BodyTimeoutMiddleware``: a request body that stalls is answered with a 408.

    from carafe.middleware import BodyTimeoutMiddleware

    app.add_middleware(BodyTimeoutMiddleware, timeout=30)   # carafe run adds it (--body-timeout)

Neither uvicorn nor granian bounds the time a request body may take: a client that
declares ``Content-Length: 100`` and sends a byte now and then holds its connection,
and the handler waiting for the body, for as long as it likes. Under this middleware,
while the body is being read (``request.body()``, ``request.form()``, a body-typed
parameter, ``request.stream()``):

- no wait for the next chunk may last longer than ``timeout`` seconds, and
- the whole body must arrive within ``timeout`` seconds plus one second for every
  ``min_rate`` bytes received (500 by default, as in Apache's ``mod_reqtimeout``), so
  a trickle of bytes cannot stretch it forever while a large upload on a slow link
  still gets the time it needs.

Past either bound the read raises an ``HTTPError(408)`` with ``Connection: close``:
a Carafe app answers it as any other problem (an ``exception_handler(408)`` applies),
and the server closes the connection after the answer. Around an app that lets the
error escape, the middleware sends the 408 itself when no response has started.
Once the body is complete, ``receive`` (a wait for the disconnect) is not timed.
"""

from __future__ import annotations

import asyncio
import contextlib

from carafe.exceptions import HTTPError
from carafe.responses import ProblemResponse
from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BodyTimeoutMiddleware"]


class BodyTimeout(HTTPError):
    """The body did not arrive in time; a 408 that closes the connection."""

    def __init__(self, timeout: float) -> None:
        super().__init__(
            408,
            f"The request body did not arrive in time (the limit is {timeout:g} seconds"
            " without data, and a minimum rate overall).",
            headers={"Connection": "close"},
        )


class BodyTimeoutMiddleware:
    """Answer 408 when a request body stalls; see the module docstring.

    Args:
        app: The ASGI app to wrap.
        timeout: Seconds the body may go without a chunk, and the overall allowance
            before the rate counts; ``0`` turns the middleware off.
        min_rate: Bytes per second that earn one more second for the whole body.
    """

    def __init__(self, app: ASGIApp, *, timeout: float = 30.0, min_rate: float = 500.0) -> None:
        self.app = app
        self.timeout = timeout
        self.min_rate = min_rate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.timeout:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, _TimedReceive(receive, self.timeout, self.min_rate), send)
        except BodyTimeout as exc:
            # The app let it escape: answer it, unless a response has started already.
            with contextlib.suppress(Exception):
                await ProblemResponse.from_error(exc)(scope, receive, send)


class _TimedReceive:
    """``receive`` with the middleware's deadline while the body is incomplete."""

    __slots__ = ("deadline", "done", "min_rate", "receive", "timeout")

    def __init__(self, receive: Receive, timeout: float, min_rate: float) -> None:
        self.receive = receive
        self.timeout = timeout
        self.min_rate = min_rate
        self.deadline = 0.0  # set on the first call: the body's clock starts when it is read
        self.done = False

    async def __call__(self) -> Message:
        if self.done:
            return await self.receive()
        now = asyncio.get_running_loop().time()
        if not self.deadline:
            self.deadline = now + self.timeout
        wait = min(self.timeout, self.deadline - now)
        try:
            async with asyncio.timeout(wait):
                message = await self.receive()
        except TimeoutError:
            self.done = True
            raise BodyTimeout(self.timeout) from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        else:
            self.deadline += len(message.get("body", b"")) / self.min_rate
        return message
