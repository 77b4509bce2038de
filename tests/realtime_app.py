"""An app for the realtime tests that need a real server (``carafe run`` in a subprocess).

``GET /stats`` reports what the handlers saw, so a test can check from outside that a
handler ended, stayed blocked in ``send``, or closed its generator.
"""

from __future__ import annotations

import asyncio
import os
import resource
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

from carafe import (
    BackgroundTasks,
    Carafe,
    Depends,
    EventSourceResponse,
    Header,
    HTTPError,
    Request,
    ServerSentEvent,
    WebSocket,
    WebSocketDisconnect,
)

app = Carafe()
FLOOD_LIMIT = 5000  # /flood stops here, so a server that never says "gone" stays bounded
stats: dict[str, int] = {
    "echo_ended": 0,
    "flood_sent": 0,
    "flood_ended": 0,
    "flood_gone": 0,
    "sse_closed": 0,
    "idle_open": 0,
}


def token(token: str | None = None) -> str:
    if token != "secret":
        raise HTTPError(401, "A valid token is required.")
    return token


@app.get("/stats")
def get_stats() -> dict[str, int]:
    return stats


@app.get("/memory")
def memory() -> dict[str, int]:
    """This worker's resident memory, from /proc, and its file-descriptor limit."""
    with open(f"/proc/{os.getpid()}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {"rss_kib": rss, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]}


@app.websocket("/echo", max_message_size=16 * 1024)
async def echo(ws: WebSocket) -> None:
    await ws.accept()
    try:
        async for text in ws.iter_text():
            await ws.send_text(text)
    finally:
        stats["echo_ended"] += 1


@app.websocket("/private")
async def private(ws: WebSocket, user: Annotated[str, Depends(token)]) -> None:
    await ws.accept()
    await ws.send_text("welcome")


@app.websocket("/flood")
async def flood(ws: WebSocket) -> None:
    """Sends 64 KiB messages as fast as the client takes them (at most ``FLOOD_LIMIT``)."""
    await ws.accept()
    chunk = b"x" * 65536
    try:
        for _ in range(FLOOD_LIMIT):
            await ws.send_bytes(chunk)
            stats["flood_sent"] += 1
    except WebSocketDisconnect:
        stats["flood_gone"] += 1
    finally:
        stats["flood_ended"] += 1


@app.websocket("/talk")
async def talk(ws: WebSocket) -> None:
    """Sends before it reads (so a receive waits behind its sends), and returns with
    one waiting."""
    await ws.accept()
    await ws.send_text("hello")
    await ws.send_text("your name?")
    await asyncio.sleep(0.1)  # the client's answer arrives meanwhile
    await ws.send_text("...")
    name = await ws.receive_text()
    await ws.send_text(f"hi {name}")
    await ws.send_text("bye")


@app.websocket("/idle")
async def idle(ws: WebSocket) -> None:
    await ws.accept()
    stats["idle_open"] += 1
    try:
        await ws.receive()
    except WebSocketDisconnect:
        pass
    finally:
        stats["idle_open"] -= 1


@app.get("/events")
async def events(last_event_id: Annotated[int | None, Header()] = None) -> EventSourceResponse:
    async def numbers() -> AsyncIterator[ServerSentEvent]:
        n = (last_event_id or 0) + 1
        try:
            while True:
                yield ServerSentEvent({"n": n}, id=str(n))
                n += 1
                await asyncio.sleep(0.01)
        finally:
            stats["sse_closed"] += 1

    return EventSourceResponse(numbers(), ping=0.5)


@app.post("/upload")
async def upload(request: Request) -> dict[str, int]:
    return {"size": len(await request.body())}


async def write_later(path: str, seconds: float) -> None:
    await asyncio.sleep(seconds)
    Path(path).write_text("written after the response")


@app.post("/background")
async def background(path: str, seconds: float, tasks: BackgroundTasks) -> dict[str, bool]:
    tasks.add(write_later, path, seconds)
    return {"accepted": True}
