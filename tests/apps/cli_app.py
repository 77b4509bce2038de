"""Targets for ``tests/test_cli.py``: an app, factories, and targets that must be refused.

``app`` and the apps ``create_app`` builds have ``debug=False``: a 500 shows the debug
page only when ``carafe run --debug`` turned debug mode on in the serving process.

``/events`` is an endless event stream and ``/ws/{room}`` a websocket relaying a pub/sub
subscription: neither ends by itself, so ``carafe run`` can exit promptly on SIGTERM
only if they end on ``app.stopping``. ``/lines`` is an endless JSON Lines stream, which
is left to finish and so holds the server until the graceful timeout.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

from carafe import (
    Broker,
    Carafe,
    EventSourceResponse,
    JSONLinesResponse,
    ServerSentEvent,
    WebSocket,
)


def create_app(greeting: str = "hello", *, debug: bool = False) -> Carafe:
    app = Carafe(debug=debug)
    broker = Broker()
    broker.init_app(app)

    @app.get("/hello")
    async def hello() -> dict[str, object]:
        return {"greeting": greeting, "debug": app.debug, "pid": os.getpid()}

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("the <kettle> is empty")

    @app.get("/events")
    async def events() -> EventSourceResponse:
        async def numbers() -> AsyncIterator[ServerSentEvent]:
            n = 0
            while True:
                yield ServerSentEvent({"n": n}, id=str(n))
                n += 1
                await asyncio.sleep(0.05)

        return EventSourceResponse(numbers(), ping=None)

    @app.get("/lines")
    async def lines() -> JSONLinesResponse:
        async def numbers() -> AsyncIterator[int]:
            n = 0
            while True:
                yield n
                n += 1
                await asyncio.sleep(0.05)

        return JSONLinesResponse(numbers())

    @app.post("/rooms/{room}")
    async def post(room: str, text: str) -> dict[str, bool]:
        await broker.publish(room, {"text": text})
        return {"ok": True}

    @app.websocket("/ws/{room}")
    async def listen(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async with broker.subscribe(room) as subscription:
            await ws.send_json({"joined": room})
            async for message in subscription:
                await ws.send_json(message.data)

    return app


app = create_app()
ITEMS = {"kettle": 1}


def failing_factory() -> Carafe:
    raise RuntimeError("DATABASE_URL is not set")


def not_an_app() -> dict[str, str]:
    return {"not": "an app"}


async def async_factory() -> Carafe:
    return create_app()


class NotAnInstance:
    async def __call__(self, scope: object, receive: object, send: object) -> None:
        pass
