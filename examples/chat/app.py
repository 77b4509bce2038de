"""A chat across workers: websockets, an SSE feed and pub/sub.

    carafe run examples.chat.app:app                              # one worker, in memory
    CARAFE_REDIS_URL=redis://127.0.0.1:6379/0 \
        carafe run examples.chat.app:app --workers 4              # any number, via Redis

- ``/ws/{room}?name=ann``: a websocket; send ``{"text": "..."}``, receive every message
  posted to the room, from any worker.
- ``POST /rooms/{room}/messages`` with ``{"name": ..., "text": ...}``: post from HTTP.
- ``GET /rooms/{room}/events``: the room as Server-Sent Events (``EventSource``).
- ``GET /``: a page that chats through the websocket.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec

from carafe import (
    Broker,
    BrokerUnavailable,
    Carafe,
    EventSourceResponse,
    HTMLResponse,
    HTTPError,
    Path,
    Query,
    RequestValidationError,
    ServerSentEvent,
    WebSocket,
)
from carafe.pubsub import Subscription

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]
Room = Annotated[str, Path(pattern=r"^[\w-]{1,40}$")]


class Said(msgspec.Struct):
    """What a websocket client sends."""

    text: Text


class Post(msgspec.Struct):
    """What ``POST /rooms/{room}/messages`` takes."""

    name: Name
    text: Text


class ChatMessage(msgspec.Struct):
    """What every listener of a room receives."""

    room: str
    name: str
    text: str
    at: float
    worker: int


broker = Broker(os.environ.get("CARAFE_REDIS_URL") or None)
app = Carafe(title="Carafe chat")
broker.init_app(app)  # subscriptions end when the app stops (SIGTERM); closed at shutdown


def channel(room: str) -> str:
    return f"chat:{room}"


async def say(room: str, name: str, text: str) -> ChatMessage:
    message = ChatMessage(room, name, text, time.time(), os.getpid())
    try:
        await broker.publish(channel(room), message)
    except BrokerUnavailable:
        raise HTTPError(503, "Chat is unavailable for a moment; try again.") from None
    return message


@app.post("/rooms/{room}/messages", status_code=201)
async def post_message(room: Room, post: Post) -> ChatMessage:
    return await say(room, post.name, post.text)


@app.get("/rooms/{room}/events")
async def room_events(room: Room) -> EventSourceResponse:
    async def events() -> AsyncIterator[ServerSentEvent]:
        async with broker.subscribe(channel(room)) as subscription:
            yield ServerSentEvent(comment=f"listening to {room}")
            async for message in subscription:
                yield ServerSentEvent(message.data, event="message")

    return EventSourceResponse(events())


async def relay(subscription: Subscription, ws: WebSocket) -> None:
    """Room -> client: every message posted to the room, from any worker."""
    async for message in subscription:
        await ws.send_json(message.data)


async def talk(ws: WebSocket, room: str, name: str) -> None:
    """Client -> room, until the client leaves (WebSocketDisconnect)."""
    while True:
        try:
            said = await ws.receive_json(Said)
        except RequestValidationError as exc:
            await ws.send_json({"errors": exc.errors})
            continue
        try:
            await say(room, name, said.text)
        except HTTPError as exc:
            await ws.send_json({"error": exc.detail})


@app.websocket("/ws/{room}")
async def chat(
    ws: WebSocket,
    room: Room,
    name: Annotated[str, Query(min_length=1, max_length=40)] = "anonymous",
) -> None:
    await ws.accept()
    async with broker.subscribe(channel(room)) as subscription:
        await ws.send_json({"joined": room, "worker": os.getpid()})
        tasks = {
            asyncio.ensure_future(relay(subscription, ws)),
            asyncio.ensure_future(talk(ws, room, name)),
        }
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        # The client leaving ends quietly; a SlowSubscriber is logged and closes 1011.
        for task in done:
            task.result()


PAGE = """<!doctype html>
<meta charset="utf-8"><title>Carafe chat</title>
<h1>Room <span id="room"></span></h1>
<ul id="log"></ul>
<form id="say"><input id="text" autocomplete="off" autofocus><button>Send</button></form>
<script>
const room = location.hash.slice(1) || "lobby";
document.getElementById("room").textContent = room;
const name = prompt("Your name?") || "anonymous";
const proto = location.protocol === "https:" ? "wss" : "ws";
const ws = new WebSocket(`${proto}://${location.host}/ws/${room}?name=${encodeURIComponent(name)}`);
ws.onmessage = (event) => {
  const data = JSON.parse(event.data);
  if (!data.text) return;
  const item = document.createElement("li");
  item.textContent = `${data.name}: ${data.text}`;
  document.getElementById("log").append(item);
};
document.getElementById("say").onsubmit = (event) => {
  event.preventDefault();
  const input = document.getElementById("text");
  ws.send(JSON.stringify({text: input.value}));
  input.value = "";
};
</script>
"""


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    return PAGE
