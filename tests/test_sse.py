"""Server-Sent Events and JSON Lines streams, through the in-process test client."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import msgspec
import pytest

from carafe import (
    Carafe,
    Depends,
    EventSourceResponse,
    Header,
    JSONLinesResponse,
    ServerSentEvent,
)
from carafe.testing import AsyncTestClient, TestClient


class Point(msgspec.Struct):
    x: int
    y: int


def parse(text: str) -> list[dict[str, str]]:
    """Split an event stream into events as a browser would (a comment's field is "")."""
    events = []
    for block in text.split("\n\n"):
        if not block:
            continue
        event: dict[str, str] = {}
        for line in block.split("\n"):
            field, _, value = line.partition(": ")
            event[field] = event[field] + "\n" + value if field in event else value
        events.append(event)
    return events


# --- The event format -----------------------------------------------------------------


def test_event_fields_and_multiline_data() -> None:
    event = ServerSentEvent("one\r\ntwo\rthree\nfour", event="note", id="42", retry=1500)
    assert event.encode() == (
        b"event: note\nid: 42\nretry: 1500\ndata: one\ndata: two\ndata: three\ndata: four\n\n"
    )
    assert ServerSentEvent(Point(1, 2)).encode() == b'data: {"x":1,"y":2}\n\n'
    assert ServerSentEvent(["a", None]).encode() == b'data: ["a",null]\n\n'
    assert ServerSentEvent(comment="keep\nalive").encode() == b": keep\n: alive\n\n"
    assert ServerSentEvent(id="7").encode() == b"id: 7\n\n"  # sets the last id, no data
    assert repr(ServerSentEvent("x", event="e")) == "ServerSentEvent('x', event='e', id=None)"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"event": "a\nb"}, "event name"),
        ({"id": "1\r2"}, "event id"),
        ({"id": "1\x002"}, "event id"),
        ({"retry": -1}, "retry"),
    ],
)
def test_fields_that_would_break_the_stream_are_refused(
    kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ServerSentEvent("x", **kwargs)


def test_ping_must_be_positive() -> None:
    with pytest.raises(ValueError, match="ping"):
        EventSourceResponse([], ping=0)


# --- Streams over the test client -----------------------------------------------------


def make_app() -> tuple[Carafe, dict[str, Any]]:
    app = Carafe()
    seen: dict[str, Any] = {"closed": threading.Event(), "log": []}

    async def feed() -> AsyncIterator[str]:
        seen["log"].append("feed open")
        try:
            yield "feed"
        finally:
            seen["log"].append("feed closed")

    @app.get("/events")
    async def events(
        last_event_id: Annotated[int | None, Header()] = None,
    ) -> EventSourceResponse:
        start = (last_event_id or 0) + 1

        async def numbered() -> AsyncIterator[Any]:
            yield ServerSentEvent(retry=2000)
            for n in range(start, start + 3):
                yield ServerSentEvent({"n": n}, event="tick", id=str(n))
            yield "plain text"
            yield {"done": True}

        return EventSourceResponse(numbered(), headers={"X-Stream": "yes"})

    @app.get("/slow")
    async def slow() -> EventSourceResponse:
        async def spaced() -> AsyncIterator[str]:
            for word in ("a", "b"):
                await asyncio.sleep(0.25)
                yield word

        return EventSourceResponse(spaced(), ping=0.1, ping_comment="still here")

    @app.get("/forever")
    async def forever(source: str = Depends(feed), ping: bool = True) -> EventSourceResponse:
        async def endless() -> AsyncIterator[str]:
            try:
                n = 0
                while True:
                    seen["log"].append(f"sent {n}")
                    yield f"{source} {n}"
                    n += 1
                    await asyncio.sleep(0.01)
            finally:
                seen["log"].append("generator closed")
                seen["closed"].set()

        return EventSourceResponse(endless(), ping=0.05 if ping else None)

    add_sync_and_line_routes(app, seen)
    return app, seen


def add_sync_and_line_routes(app: Carafe, seen: dict[str, Any]) -> None:
    @app.get("/sync")
    def sync_events() -> EventSourceResponse:
        return EventSourceResponse(iter(["x", "y"]), ping=None)

    @app.get("/lines")
    async def lines() -> JSONLinesResponse:
        async def points() -> AsyncIterator[Point]:
            for i in range(3):
                yield Point(i, i * i)

        return JSONLinesResponse(points())

    @app.get("/lines-sync")
    def lines_sync() -> JSONLinesResponse:
        return JSONLinesResponse([{"a": 1}, [1, 2], "text", None])

    @app.get("/lines-forever")
    async def lines_forever() -> JSONLinesResponse:
        async def endless() -> AsyncIterator[dict[str, int]]:
            try:
                n = 0
                while True:
                    yield {"n": n}
                    n += 1
                    await asyncio.sleep(0.01)
            finally:
                seen["closed"].set()

        return JSONLinesResponse(endless())


@pytest.fixture
def app_seen() -> tuple[Carafe, dict[str, Any]]:
    return make_app()


@pytest.fixture
def client(app_seen: tuple[Carafe, dict[str, Any]]) -> Iterator[TestClient]:
    with TestClient(app_seen[0]) as client:
        yield client


def test_event_stream_headers_and_events(client: TestClient) -> None:
    response = client.get("/events")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-accel-buffering"] == "no"
    assert response.headers["x-stream"] == "yes"
    assert "content-length" not in response.headers
    assert parse(response.text) == [
        {"retry": "2000"},
        {"event": "tick", "id": "1", "data": '{"n":1}'},
        {"event": "tick", "id": "2", "data": '{"n":2}'},
        {"event": "tick", "id": "3", "data": '{"n":3}'},
        {"data": "plain text"},
        {"data": '{"done":true}'},
    ]


def test_last_event_id_resumes_after_the_last_seen_event(client: TestClient) -> None:
    response = client.get("/events", headers={"Last-Event-ID": "3"})
    ids = [event["id"] for event in parse(response.text) if "id" in event]
    assert ids == ["4", "5", "6"]


def test_keepalive_comments_fill_the_silences_without_breaking_the_source(
    client: TestClient,
) -> None:
    events = parse(client.get("/slow").text)
    assert [e["data"] for e in events if "data" in e] == ["a", "b"]
    pings = [e for e in events if e == {"": "still here"}]
    assert len(pings) >= 2  # 0.25 s between events, a ping every 0.1 s
    assert events[0] == {"": "still here"}


@pytest.mark.parametrize("ping", [True, False])
def test_client_disconnect_closes_the_generator_then_the_dependency(
    app_seen: tuple[Carafe, dict[str, Any]], client: TestClient, ping: bool
) -> None:
    _, seen = app_seen
    with client.stream("GET", f"/forever?ping={str(ping).lower()}") as response:
        lines = response.iter_lines()
        assert next(lines) == "data: feed 0"
    started = time.monotonic()
    assert seen["closed"].wait(5)
    assert time.monotonic() - started < 2
    log = seen["log"]
    assert log[0] == "feed open"
    # The dependency stayed open for the whole stream and closed after the generator.
    assert log[-2:] == ["generator closed", "feed closed"]
    sent = [entry for entry in log if entry.startswith("sent")]
    assert len(sent) < 50  # it stopped: nobody was reading


def test_sync_iterators_feed_streams_too(client: TestClient) -> None:
    assert parse(client.get("/sync").text) == [{"data": "x"}, {"data": "y"}]
    response = client.get("/lines-sync")
    assert response.text == '{"a":1}\n[1,2]\n"text"\nnull\n'


def test_json_lines(client: TestClient) -> None:
    response = client.get("/lines")
    assert response.headers["content-type"] == "application/x-ndjson"
    assert [msgspec.json.decode(line) for line in response.text.splitlines()] == [
        {"x": 0, "y": 0},
        {"x": 1, "y": 1},
        {"x": 2, "y": 4},
    ]


def test_json_lines_generator_closed_on_disconnect(
    app_seen: tuple[Carafe, dict[str, Any]], client: TestClient
) -> None:
    with client.stream("GET", "/lines-forever") as response:
        assert next(response.iter_lines()) == '{"n":0}'
    assert app_seen[1]["closed"].wait(5)


# --- When the app stops -----------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("ping", [True, False])
async def test_event_streams_end_cleanly_when_the_app_stops(ping: bool) -> None:
    app, seen = make_app()
    async with (
        AsyncTestClient(app) as client,
        client.stream("GET", "/forever", params={"ping": ping}) as response,
    ):
        lines = response.aiter_lines()
        assert await anext(lines) == "data: feed 0"
        app.stopping.set()  # what `carafe run` does when the server is told to exit
        rest = [line async for line in lines]  # the stream ends: this returns
        assert rest[-1] == ""
    assert seen["log"][-2:] == ["generator closed", "feed closed"]


@pytest.mark.anyio
async def test_an_event_stream_opened_while_stopping_ends_at_once() -> None:
    app, _ = make_app()
    async with AsyncTestClient(app) as client:
        app.stopping.set()
        response = await client.get("/forever")
        assert response.status_code == 200
        assert response.text == ""


@pytest.mark.anyio
async def test_json_lines_do_not_end_when_the_app_stops() -> None:
    app, _ = make_app()
    async with AsyncTestClient(app) as client:
        # No end marker would tell a client that a cut stream is incomplete: it is not cut.
        app.stopping.set()
        response = await client.get("/lines")
        assert len(response.text.splitlines()) == 3


@pytest.mark.anyio
async def test_a_stream_served_outside_a_carafe_app_runs_as_before() -> None:
    async def letters() -> AsyncIterator[str]:
        for letter in "ab":
            yield letter

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.Event().wait()  # the client never leaves
        return {}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "GET"}  # no scope["app"]: no app to stop with
    await EventSourceResponse(letters(), ping=None)(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent[1:])
    assert body == b"data: a\n\ndata: b\n\n"
