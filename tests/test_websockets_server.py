"""Websocket and stream faults against a real uvicorn worker (tests/realtime_app.py).

What the in-process client cannot produce: frames over the server's size limit,
malformed frames on a raw socket, a client that never reads, a client that vanishes.
After each, the handler must have ended (``/stats``) and the server must still serve.
"""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, free_port, wait_for_port

pytestmark = pytest.mark.slow

WS_MAX_SIZE = 65536  # uvicorn's --ws-max-size for this server; /echo's own limit is 16 KiB


class Server:
    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def stats(self) -> dict[str, int]:
        response = self.http.get("/stats")
        assert response.status_code == 200
        return response.json()  # type: ignore[no-any-return]

    def wait_for(self, check: Callable[[dict[str, int]], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not check(stats := self.stats()):
            if time.monotonic() > deadline:
                raise AssertionError(f"not reached within {timeout}s: {stats}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "tests.realtime_app:app", "--port", str(port)]
    command += ["--ws-max-size", str(WS_MAX_SIZE), "--log-level", "warning", "--lifespan", "on"]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, proc=proc)
        running = Server(port)
        with running.http:
            yield running
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    # No fault reached Carafe's or the app's code as an error. (uvicorn's websocket
    # implementation logs its own traceback for invalid UTF-8, and an error line after
    # a denial response: neither comes from here, and neither reaches a client.)
    log = out.decode(errors="replace")
    assert "Exception in ASGI application" not in log, log
    assert "src/carafe" not in log, log
    assert "realtime_app" not in log, log


def raw_websocket(port: int, path: str, rcvbuf: int | None = None) -> socket.socket:
    """A handshake by hand: the socket is then ours to misuse."""
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += sock.recv(1)  # byte by byte: not a byte of the first frame is taken
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def frame(opcode: int, payload: bytes, *, masked: bool = True) -> bytes:
    """One final frame as a client sends it (masked, unless told otherwise)."""
    size = len(payload)
    mask_bit = 0x80 if masked else 0
    head = bytes([0x80 | opcode])
    if size < 126:
        head += bytes([mask_bit | size])
    else:
        head += bytes([mask_bit | 126]) + size.to_bytes(2, "big")
    if masked:
        key = os.urandom(4)
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        head += key
    return head + payload


def read_close_code(sock: socket.socket) -> int:
    """Read frames until the server's close frame; its status code."""
    while True:
        first, second = sock.recv(1)[0], sock.recv(1)[0]
        size = second & 0x7F
        if size == 126:
            size = int.from_bytes(sock.recv(2), "big")
        payload = b""
        while len(payload) < size:
            payload += sock.recv(size - len(payload))
        if first & 0x0F == 0x8:
            return int.from_bytes(payload[:2], "big")


def closed_by_server(sock: socket.socket) -> bool:
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True


# --- Handshake --------------------------------------------------------------------------


def test_denied_handshake_is_a_real_http_response(server: Server) -> None:
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    with pytest.raises(InvalidStatus) as denied:
        connect(f"ws://127.0.0.1:{server.port}/private")
    response = denied.value.response
    assert response.status_code == 401
    assert b'"detail":"A valid token is required."' in response.body
    with connect(f"ws://127.0.0.1:{server.port}/private?token=secret") as ws:
        assert ws.recv() == "welcome"


# --- Sizes and kinds --------------------------------------------------------------------


def test_frame_over_the_servers_limit_closes_1009(server: Server) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    ended = server.stats()["echo_ended"]
    with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
        ws.send("ok")
        assert ws.recv() == "ok"
        ws.send("x" * (WS_MAX_SIZE + 1))
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    server.wait_for(lambda stats: stats["echo_ended"] == ended + 1)


def test_message_over_the_routes_limit_closes_1009_with_a_reason(server: Server) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
        ws.send("y" * 20000)
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1009
    assert closed.value.rcvd.reason == "Message of 20000 bytes is over the limit of 16384"


def test_binary_where_text_is_expected_closes_1003(server: Server) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.sync.client import connect

    with connect(f"ws://127.0.0.1:{server.port}/echo") as ws:
        ws.send(b"\x00\xff")
        with pytest.raises(ConnectionClosedError) as closed:
            ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


# --- Malformed frames -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("bad_frame", "code"),
    [
        (frame(0x3, b"reserved opcode"), 1002),
        (frame(0x1, b"unmasked", masked=False), 1002),
        (frame(0x1, b"\xff\xfe not UTF-8"), 1007),
        (b"\x81\xff" + b"\xff" * 8, 1009),  # a 2**63-byte length: over any limit
    ],
    ids=["reserved-opcode", "unmasked", "invalid-utf8", "absurd-length"],
)
def test_malformed_frames_close_the_connection_and_end_the_handler(
    server: Server, bad_frame: bytes, code: int
) -> None:
    ended = server.stats()["echo_ended"]
    sock = raw_websocket(server.port, "/echo")
    try:
        sock.sendall(bad_frame)
        assert read_close_code(sock) == code
        assert closed_by_server(sock)
    finally:
        sock.close()
    server.wait_for(lambda stats: stats["echo_ended"] == ended + 1)


# --- Slow and vanishing clients ---------------------------------------------------------


def test_a_client_that_never_reads_blocks_the_sender_and_memory_stays_bounded(
    server: Server,
) -> None:
    before = server.http.get("/memory").json()["rss_kib"]
    ended = server.stats()["flood_ended"]
    sock = raw_websocket(server.port, "/flood", rcvbuf=4096)
    try:
        time.sleep(1.0)
        sent_early = server.stats()["flood_sent"]
        time.sleep(1.0)
        sent_late = server.stats()["flood_sent"]
        rss = server.http.get("/memory").json()["rss_kib"]
    finally:
        sock.close()
    # The handler is parked in send(): no progress, and only socket buffers' worth
    # (a few 64 KiB messages) was ever accepted from it.
    assert sent_late == sent_early
    assert sent_late < 200
    assert rss - before < 40 * 1024
    print(f"\nnever-reading client: {sent_late} x 64 KiB sent, RSS +{rss - before} KiB")
    server.wait_for(lambda stats: stats["flood_ended"] == ended + 1)


def test_a_client_that_vanishes_ends_the_handler(server: Server) -> None:
    ended = server.stats()["echo_ended"]
    sock = raw_websocket(server.port, "/echo")
    sock.sendall(frame(0x1, b"hello"))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()  # with SO_LINGER 0: a reset, no close frame
    server.wait_for(lambda stats: stats["echo_ended"] == ended + 1)


def test_sse_client_that_disconnects_mid_stream_closes_the_generator(server: Server) -> None:
    closed = server.stats()["sse_closed"]
    events: list[dict[str, Any]] = []
    headers = {"Last-Event-ID": "10"}
    with server.http.stream("GET", "/events", headers=headers) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        for line in response.iter_lines():
            if line.startswith("id: "):
                events.append({"id": line[4:]})
            if len(events) == 3:
                break
    assert [event["id"] for event in events] == ["11", "12", "13"]
    server.wait_for(lambda stats: stats["sse_closed"] == closed + 1, timeout=3)
