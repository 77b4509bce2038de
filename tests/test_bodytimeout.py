"""``BodyTimeoutMiddleware`` in process: a body that stalls or trickles gets a 408.

The client here is an ASGI ``receive`` fed by the test on a real event loop, so a
stall is a chunk that never comes. Against real servers (``carafe run
--body-timeout``): tests/test_servers.py.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from carafe import Carafe, Request, Response
from carafe.middleware import BodyTimeoutMiddleware
from carafe.types import ASGIApp, Message, Receive, Scope, Send

SCOPE: Scope = {
    "type": "http",
    "method": "POST",
    "path": "/upload",
    "raw_path": b"/upload",
    "query_string": b"",
    "headers": [(b"host", b"x"), (b"content-length", b"100")],
    "scheme": "http",
    "server": ("127.0.0.1", 8000),
    "client": ("127.0.0.1", 5000),
    "root_path": "",
    "http_version": "1.1",
}


def chunks(*steps: tuple[float, Message]) -> Receive:
    """A client: after each delay, the message; then it never sends again."""
    queue = list(steps)

    async def receive() -> Message:
        if not queue:
            await asyncio.Event().wait()
        delay, message = queue.pop(0)
        await asyncio.sleep(delay)
        return message

    return receive


def part(body: bytes, more: bool = True) -> Message:
    return {"type": "http.request", "body": body, "more_body": more}


def serve(app: ASGIApp, receive: Receive) -> list[Message]:
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    asyncio.run(asyncio.wait_for(app(dict(SCOPE), receive, send), timeout=10))
    return sent


def answer(sent: list[Message]) -> tuple[int, dict[bytes, bytes], Any]:
    start = sent[0]
    body = b"".join(message.get("body", b"") for message in sent[1:])
    return start["status"], dict(start["headers"]), json.loads(body) if body else None


def uploads() -> Carafe:
    app = Carafe()

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    return app


def test_a_body_that_stalls_is_a_408_problem_that_closes_the_connection() -> None:
    app = BodyTimeoutMiddleware(uploads(), timeout=0.2)
    status, headers, problem = answer(serve(app, chunks((0, part(b"abc")))))
    assert status == 408
    assert headers[b"connection"] == b"close"
    assert headers[b"content-type"] == b"application/problem+json"
    assert problem["title"] == "Request Timeout"
    assert problem["detail"].startswith("The request body did not arrive in time")


def test_a_body_that_trickles_falls_behind_the_minimum_rate() -> None:
    """Every gap is shorter than the timeout; the whole body takes too long."""
    steps = [(0.02, part(b"a")) for _ in range(200)]
    app = BodyTimeoutMiddleware(uploads(), timeout=0.3, min_rate=500)
    status, _, _ = answer(serve(app, chunks(*steps)))
    assert status == 408


def test_a_body_that_keeps_its_pace_is_read() -> None:
    steps = [(0.05, part(b"x" * 1000)) for _ in range(5)] + [(0.05, part(b"", more=False))]
    app = BodyTimeoutMiddleware(uploads(), timeout=0.3)
    status, _, body = answer(serve(app, chunks(*steps)))
    assert (status, body) == (200, {"size": 5000})


def test_the_apps_handler_for_408_answers() -> None:
    inner = uploads()

    @inner.exception_handler(408)
    def slow(request: Request, exc: Exception) -> Response:
        return Response(b"too slow", status_code=408, media_type="text/plain")

    sent = serve(BodyTimeoutMiddleware(inner, timeout=0.1), chunks((0, part(b"abc"))))
    assert sent[0]["status"] == 408
    assert b"".join(m.get("body", b"") for m in sent[1:]) == b"too slow"


def test_around_a_plain_asgi_app_the_middleware_answers_itself() -> None:
    async def reads_the_body(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        raise AssertionError("the body never completes")

    status, headers, problem = answer(
        serve(BodyTimeoutMiddleware(reads_the_body, timeout=0.1), chunks((0, part(b"abc"))))
    )
    assert (status, headers[b"connection"], problem["status"]) == (408, b"close", 408)


def test_waiting_for_the_disconnect_after_the_body_is_not_timed() -> None:
    """An event stream or long poll waits in receive() far past the timeout."""
    seen: list[str] = []

    async def waits(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()  # the whole body
        seen.append((await receive())["type"])  # the disconnect, 0.5 s later

    receive = chunks((0, part(b"abc", more=False)), (0.5, {"type": "http.disconnect"}))
    serve(BodyTimeoutMiddleware(waits, timeout=0.1), receive)
    assert seen == ["http.disconnect"]


def test_zero_turns_it_off_and_websockets_pass_untouched() -> None:
    got: list[Callable[[], Awaitable[Message]]] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        got.append(receive)

    async def receive() -> Message:
        return part(b"", more=False)

    async def send(message: Message) -> None:
        pass

    asyncio.run(BodyTimeoutMiddleware(app, timeout=0)(dict(SCOPE), receive, send))
    asyncio.run(BodyTimeoutMiddleware(app)({"type": "websocket"}, receive, send))
    assert got == [receive, receive]


def test_a_cancellation_that_is_not_the_timeout_stays_a_cancellation() -> None:
    """The server cancels the request (shutting down): no 408 is made of it."""
    app = BodyTimeoutMiddleware(uploads(), timeout=30)

    async def main() -> list[Message]:
        sent: list[Message] = []

        async def send(message: Message) -> None:
            sent.append(message)

        task = asyncio.ensure_future(app(dict(SCOPE), chunks((0, part(b"abc"))), send))
        await asyncio.sleep(0.1)  # the app waits for the rest of the body
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return sent

    assert asyncio.run(main()) == []
