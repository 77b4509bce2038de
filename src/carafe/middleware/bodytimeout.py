"""``BodyTimeoutMiddleware``: a request body that stalls is answered with a 408.

    from carafe.middleware import BodyTimeoutMiddleware

    asgi = BodyTimeoutMiddleware(app, timeout=30)   # carafe run does it (--body-timeout)

Around the app rather than through ``app.add_middleware`` (which works too): a Carafe
app with middleware matches the route first and guards errors for it, which costs
more per request than this does (``bench/middleware.py``).

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

The deadlines are checked about every second (a tenth of ``timeout`` when that is
shorter). Past either bound the read raises an ``HTTPError(408)`` with ``Connection: close``:
a Carafe app answers it as any other problem (an ``exception_handler(408)`` applies),
and the server closes the connection after the answer. Around an app that lets the
error escape, the middleware sends the 408 itself when no response has started.
Once the body is complete, ``receive`` (a wait for the disconnect) is not timed.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

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
        self.watch: _Watch | None = None  # over the pending reads of the last loop seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.timeout:
            await self.app(scope, receive, send)
            return
        try:
            await self.app(scope, _TimedReceive(receive, self), send)
        except BodyTimeout as exc:
            # The app let it escape: answer it, unless a response has started already.
            with contextlib.suppress(Exception):
                await ProblemResponse.from_error(exc)(scope, receive, send)

    def watch_over(self, loop: asyncio.AbstractEventLoop) -> _Watch:
        """The watch over ``loop``'s pending body reads.

        One is kept, the last loop's: a server runs one loop per process. Under another
        loop (tests, each with its own) a new watch replaces it; the old one sweeps on
        until the reads it holds are over.
        """
        watch = self.watch
        if watch is None or watch.loop is not loop:
            watch = self.watch = _Watch(loop, min(1.0, self.timeout / 10))
        return watch


class _Watch:
    """The pending body reads on one event loop, swept every ``interval`` seconds."""

    # PERF: one sweep timer per loop while reads are pending, instead of a timer per
    # read: measured with bench/middleware.py (uvloop, POST with a JSON body), an
    # ``asyncio.timeout`` around each receive added about 10 us per request, one
    # ``call_at`` per request about 3.5 us, the sweep about 2 us.

    __slots__ = ("interval", "loop", "pending", "timer")

    def __init__(self, loop: asyncio.AbstractEventLoop, interval: float) -> None:
        self.loop = loop
        self.interval = interval
        self.pending: set[_TimedReceive] = set()
        self.timer: asyncio.TimerHandle | None = None

    def add(self, read: _TimedReceive) -> None:
        self.pending.add(read)
        if self.timer is None:
            self.timer = self.loop.call_later(self.interval, self.sweep)

    def sweep(self) -> None:
        self.timer = None
        now = self.loop.time()
        for read in [read for read in self.pending if read.limit <= now]:
            self.pending.discard(read)
            read.expire()
        if self.pending:
            self.timer = self.loop.call_later(self.interval, self.sweep)


class _TimedReceive:
    """``receive`` with the middleware's deadline while the body is incomplete.

    Each wait may last until ``min(now + timeout, start + timeout + received / min_rate)``.
    """

    __slots__ = ("done", "expired", "limit", "middleware", "receive", "task", "total")

    def __init__(self, receive: Receive, middleware: BodyTimeoutMiddleware) -> None:
        self.receive = receive
        self.middleware = middleware
        self.done = False  # the body is complete: receive is no longer timed
        self.expired = False
        self.total = 0.0  # the whole body's deadline; 0 until the first receive
        self.limit = 0.0  # the pending receive's deadline
        self.task: asyncio.Task[Any] | None = None

    async def __call__(self) -> Message:
        if self.done:
            return await self.receive()
        middleware = self.middleware
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self.total:  # the first receive: the body's clock starts
            self.total = now + middleware.timeout
            self.task = asyncio.current_task(loop)
        self.limit = min(now + middleware.timeout, self.total)
        watch = middleware.watch_over(loop)
        watch.add(self)
        try:
            message = await self.receive()
        except asyncio.CancelledError:
            if self.expired and self.task is not None:
                self.task.uncancel()
                self.done = True
                raise BodyTimeout(middleware.timeout) from None
            raise
        finally:
            watch.pending.discard(self)
        if message["type"] == "http.request" and message.get("more_body", False):
            self.total += len(message.get("body", b"")) / middleware.min_rate
        else:
            self.done = True
        return message

    def expire(self) -> None:
        """Cut the pending receive (called by the watch once its deadline passed)."""
        self.expired = True
        if self.task is not None:  # pragma: no branch - set before the read was pending
            self.task.cancel()
