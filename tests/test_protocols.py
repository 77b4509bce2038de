"""Carafe's uvicorn protocol (``carafe._protocols``) under a real uvicorn, in process.

A ``uvicorn.Server`` with ``http=protocol(0.5)`` runs in a thread on a free loopback
port; the tests talk to it over raw sockets. ``carafe run`` against real servers in
subprocesses: tests/test_servers.py.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from carafe import Carafe, Request, WebSocket, WebSocketDisconnect
from carafe._protocols import REQUEST_TIMEOUT, protocol
from tests.conftest import free_port
from tests.rawws import frame, raw_websocket, until_closed

TIMEOUT = 0.5
BOUND = 10.0  # a connection the server cuts is cut within this


def make_app() -> Carafe:
    app = Carafe()

    @app.get("/hello")
    async def hello() -> str:
        return "hello"

    @app.get("/slow")
    async def slow() -> str:
        await asyncio.sleep(TIMEOUT * 4)
        return "slow"

    @app.post("/upload")
    async def upload(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            async for text in ws.iter_text():
                await ws.send_text(text)
        except WebSocketDisconnect:
            pass

    return app


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    config = uvicorn.Config(
        make_app(),
        host="127.0.0.1",
        port=free_port(),
        http=protocol(TIMEOUT),
        lifespan="on",
        log_level="warning",
        ws_ping_interval=None,
        timeout_keep_alive=2,  # past three sweeps
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    yield config.port
    server.should_exit = True
    thread.join(10)


def connect(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=BOUND)


def test_a_connection_that_sends_nothing_is_closed_silently(port: int) -> None:
    with connect(port) as sock:
        assert until_closed(sock, BOUND) == b""


def test_a_partial_head_gets_a_408_then_the_close(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        assert until_closed(sock, BOUND) == REQUEST_TIMEOUT


def test_the_next_head_on_a_kept_alive_connection_gets_its_own_deadline(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHo")
        data = until_closed(sock, BOUND)
    first, _, rest = data.partition(b"hello")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest == REQUEST_TIMEOUT


def test_a_pipelined_head_waits_while_the_request_before_it_is_answered(port: int) -> None:
    """The app takes four timeouts to answer; the head behind it is not cut meanwhile."""
    with connect(port) as sock:
        sock.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /hello HTTP/1.1\r\nHo")
        data = until_closed(sock, BOUND)
    first, _, rest = data.partition(b"slow")
    assert first.startswith(b"HTTP/1.1 200 OK\r\n")
    assert rest == REQUEST_TIMEOUT  # after the answer, the next head got its deadline


def test_the_unread_rest_of_a_body_is_not_waited_for_forever(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        data = until_closed(sock, BOUND)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"hello")  # closed silently after the answer


def test_an_idle_kept_alive_connection_is_left_to_uvicorns_keep_alive(port: int) -> None:
    with connect(port) as sock:
        sock.sendall(b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = until_closed(sock, BOUND)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"hello")  # no 408: no head had begun


def test_requests_that_arrive_in_time_are_answered_on_one_connection(port: int) -> None:
    with connect(port) as sock:
        for _ in range(3):
            sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
            data = b""
            while not data.endswith(b"}"):
                data += sock.recv(65536)
            assert data.startswith(b"HTTP/1.1 200 OK\r\n")
            assert data.endswith(b'{"size":5}')


def test_a_websocket_outlives_the_head_timeout(port: int) -> None:
    """Upgraded, the connection is the websocket protocol's: the sweep stops."""
    sock = raw_websocket(port, "/echo")
    try:
        time.sleep(TIMEOUT * 4)  # past three sweeps
        sock.sendall(frame(0x1, b"still here"))
        reply = sock.recv(65536)
        assert reply[2:] == b"still here"
    finally:
        sock.close()
