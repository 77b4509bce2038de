"""``app.stopping``: set when the app begins to stop, so endless streams can end.

A server that is told to exit waits for its open connections before it shuts the app
down (uvicorn, granian). An event stream, or a websocket relaying a pub/sub
subscription, never finishes by itself, so without a signal it would hold the server
until its graceful timeout and then be cut off mid-stream.

Who sets it: ``carafe run`` when the serving process gets its exit signal (SIGTERM or
SIGINT, see ``carafe.cli``), and the app itself when its lifespan shutdown begins (every
server, and the test clients). Startup clears it. Who ends on it: ``EventSourceResponse``
streams, and the subscriptions of a ``Broker`` bound with ``broker.init_app(app)``. Your
own loops can ``await app.stopping.wait()`` or check ``app.stopping.is_set()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from carafe._errors import logger

__all__ = ["Stopping"]


class Stopping:
    """An ``asyncio.Event``-like flag, owned by one app, that also runs callbacks.

    Unlike ``asyncio.Event`` it is bound to no event loop, so one app can be started on
    one loop after another (one per test client). Set and clear it from the loop that
    serves the app.
    """

    __slots__ = ("_callbacks", "_set", "_waiters")

    def __init__(self) -> None:
        self._set = False
        self._waiters: set[asyncio.Future[None]] = set()
        self._callbacks: list[Callable[[], object]] = []

    def is_set(self) -> bool:
        """Whether the app is stopping."""
        return self._set

    async def wait(self) -> None:
        """Return once the app is stopping (at once if it already is)."""
        if self._set:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)

    def add_callback(self, fn: Callable[[], object]) -> None:
        """Call ``fn()`` each time the flag is set (it must not block)."""
        self._callbacks.append(fn)

    def set(self) -> None:
        """Mark the app as stopping: wake every waiter, run the callbacks once."""
        if self._set:
            return
        self._set = True
        for waiter in self._waiters:
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(None)
        for fn in list(self._callbacks):
            try:
                fn()
            except Exception as exc:
                logger.error("A stopping callback failed", exc_info=exc)

    def clear(self) -> None:
        """Mark the app as running again (its startup does this)."""
        self._set = False

    def __repr__(self) -> str:
        return f"<Stopping {'set' if self._set else 'unset'}>"
