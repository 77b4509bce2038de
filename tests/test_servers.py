"""What ``carafe run`` sets on each server, and what each server does with hostile input.

The settings are read back from ``carafe run``'s own command line; the behaviour is
measured against real servers on loopback (``carafe run``, uvicorn and granian). Where
the servers differ, the expected outcome is given per server and docs/deployment.md
says why ("What each server still lacks").
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import httpx
import pytest
from click.testing import CliRunner

from carafe import _servers
from carafe.cli import main, run
from tests.conftest import LiveServer
from tests.rawws import raw_websocket, read_close_code

SERVERS = ["uvicorn", "granian"]

# --- The settings carafe run passes ------------------------------------------------------


def test_uvicorn_gets_keepalive_pings_by_default() -> None:
    ctx = run.make_context("run", ["examples.demo:app"])
    assert _servers.uvicorn_settings(ctx) == {"ws_ping_interval": 20.0, "ws_ping_timeout": 20.0}


def test_ping_settings_reach_uvicorn_and_zero_turns_them_off() -> None:
    args = ["examples.demo:app", "--ws-ping-interval", "0.5", "--ws-ping-timeout", "0"]
    ctx = run.make_context("run", args)
    assert _servers.uvicorn_settings(ctx) == {"ws_ping_interval": 0.5, "ws_ping_timeout": None}


def test_granian_runs_with_its_own_defaults() -> None:
    ctx = run.make_context("run", ["examples.demo:app", "--server", "granian"])
    assert _servers.granian_settings(ctx) == {}


@pytest.mark.parametrize(
    ("option", "why"),
    [
        ("--ws-ping-interval", "granian sends no websocket keepalive pings"),
        ("--ws-ping-timeout", "granian sends no websocket keepalive pings"),
        ("--ws-max-size", "granian's websocket limits are fixed (16 MiB frames, 64 MiB messages)"),
    ],
)
def test_a_setting_granian_lacks_is_refused_not_ignored(option: str, why: str) -> None:
    args = ["run", "examples.demo:app", "--server", "granian", option, "5"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert f"{option} is not available with --server granian: {why}" in result.output


# --- Keepalive against a real uvicorn -----------------------------------------------------


@pytest.mark.slow
def test_a_peer_that_never_answers_pings_is_closed_and_its_handler_ends() -> None:
    live = LiveServer(
        "tests.realtime_app:app", "--ws-ping-interval", "0.3", "--ws-ping-timeout", "0.3"
    )
    try:
        with httpx.Client(base_url=live.url, timeout=10) as http:
            sock = raw_websocket(live.port, "/idle")  # reads, but never answers a ping
            try:
                assert read_close_code(sock) == 1011  # after ping frames, the close
            finally:
                sock.close()
            deadline = time.monotonic() + 5
            while http.get("/stats").json()["idle_open"] != 0:
                assert time.monotonic() < deadline, "the /idle handler did not end"
                time.sleep(0.05)
    finally:
        live.stop()


# --- Hostile HTTP/1 framing ---------------------------------------------------------------


@pytest.fixture(scope="module", params=SERVERS)
def server(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    live = LiveServer("tests.realtime_app:app", "--server", request.param)
    try:
        yield request.param, live.port
    finally:
        live.stop()


def exchange(port: int, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send raw bytes, read one response: status, headers (lower-case), body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = dict(line.lower().split(": ", 1) for line in lines[1:])
        while len(body) < int(headers.get("content-length", 0)):
            body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


CHUNKED = b"POST /upload HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"


@pytest.mark.slow
def test_a_body_with_ten_thousand_trailers(
    server: tuple[str, int], request: pytest.FixtureRequest
) -> None:
    """uvicorn (httptools) skips the trailers. granian stops reading past 16 KiB of
    them and tells the app the client disconnected; Carafe answers that with a 400
    (before, granian sent its own 500)."""
    name, port = server
    trailers = b"".join(b"x-t%d: v\r\n" % i for i in range(10_000))
    status, _, body = exchange(port, CHUNKED + b"\r\n5\r\nhello\r\n0\r\n" + trailers + b"\r\n")
    if name == "granian":
        assert status == 400
        assert b"ended before it was complete" in body
    else:
        assert (status, body) == (200, b'{"size":5}')


@pytest.mark.slow
def test_content_length_with_chunked_transfer_encoding(server: tuple[str, int]) -> None:
    """uvicorn refuses the ambiguous request. granian (hyper) follows RFC 9112 section
    6.3: Transfer-Encoding wins, the Content-Length never reaches the app, and the
    connection is closed after the response."""
    name, port = server
    status, headers, body = exchange(
        port, CHUNKED + b"Content-Length: 5\r\n\r\n5\r\nhello\r\n0\r\n\r\n"
    )
    if name == "uvicorn":
        assert status == 400
    else:
        assert (status, body) == (200, b'{"size":5}')
        assert headers["connection"] == "close"
