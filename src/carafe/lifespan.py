"""The ASGI lifespan protocol, both sides of it.

``serve_lifespan`` answers a server's lifespan messages for an app that has
``startup(state)`` and ``shutdown()`` (``Carafe``). ``LifespanDriver`` drives another
app's lifespan from the outside: the lifespans of mounted sub-apps (which Starlette and
FastAPI never run) and the test clients', so both speak it the way a server does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any, Protocol

from carafe.exceptions import CarafeError, ConfigurationError
from carafe.types import ASGIApp, Message, Receive, Send

__all__ = ["LifespanDriver", "LifespanError", "serve_lifespan"]

logger = logging.getLogger("carafe")


class _Lives(Protocol):
    async def startup(self, state: dict[str, Any] | None = None) -> None: ...

    async def shutdown(self) -> None: ...


async def serve_lifespan(
    app: _Lives, receive: Receive, send: Send, state: dict[str, Any] | None
) -> None:
    """Answer one lifespan: startup, then (after the server says so) shutdown.

    A failure is logged (with its traceback, unless it is a ``ConfigurationError``) and
    reported to the server as ``lifespan.startup.failed`` (or ``shutdown.failed``) with a
    one-line message.
    """
    await receive()
    if await _step("startup", app.startup(state), send):
        await receive()
        await _step("shutdown", app.shutdown(), send)


async def _step(event: str, action: Awaitable[None], send: Send) -> bool:
    """Run one lifespan step and report it to the server; whether it succeeded."""
    try:
        await action
    except BaseException as exc:
        # A ConfigurationError's message says all (a setting, a database that is down):
        # one line, no traceback. Anything else is a bug whose traceback helps.
        trace = None if isinstance(exc, ConfigurationError) else exc
        logger.error("%s failed", event.capitalize(), exc_info=trace)
        message = f"{type(exc).__name__}: {exc}"
        await send({"type": f"lifespan.{event}.failed", "message": message})
        return False
    await send({"type": f"lifespan.{event}.complete"})
    return True


class LifespanError(CarafeError):
    """The app reported ``lifespan.startup.failed`` or ``lifespan.shutdown.failed``."""


class LifespanDriver:
    """Run ``app``'s lifespan in a task: ``await startup()``, later ``await shutdown()``.

    An app that does not speak the lifespan protocol (it raises, or returns at once)
    is treated as having nothing to start, as uvicorn's ``lifespan="auto"`` does.
    """

    def __init__(self, app: ASGIApp, state: dict[str, Any] | None = None) -> None:
        self.app = app
        self.state: dict[str, Any] = state if state is not None else {}
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.supported = True

    async def _receive(self) -> Message:
        return await self._inbox.get()

    async def _send(self, message: Message) -> None:
        await self._outbox.put(message)

    async def _run(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except Exception:
            self.supported = False
        finally:
            await self._outbox.put({"type": "lifespan.ended"})

    async def _exchange(self, event: str) -> None:
        await self._inbox.put({"type": f"lifespan.{event}"})
        reply = await self._outbox.get()
        if reply["type"] == f"lifespan.{event}.failed":
            raise LifespanError(reply.get("message") or f"lifespan {event} failed")
        if reply["type"] == "lifespan.ended":
            self.supported = False

    async def startup(self) -> None:
        self._task = asyncio.ensure_future(self._run())
        await self._exchange("startup")

    async def shutdown(self) -> None:
        if self._task is None:
            return
        if self.supported:
            await self._exchange("shutdown")
        await self._task
        self._task = None
