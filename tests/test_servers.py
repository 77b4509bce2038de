"""What ``carafe run`` sets on each server, and what each server does with hostile input.

The settings are read back from ``carafe run``'s own command line; the behaviour is
measured against real servers on loopback (``carafe run``, uvicorn and granian). Where
the servers differ, the expected outcome is given per server and docs/deployment.md
says why ("What each server still lacks").
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from click.testing import CliRunner

from carafe import _servers
from carafe._protocols import HttpToolsHeadTimeoutProtocol
from carafe.cli import main, run
from tests.conftest import LiveServer
from tests.rawws import raw_websocket, read_close_code, until_closed

SERVERS = ["uvicorn", "granian"]

# --- The settings carafe run passes ------------------------------------------------------


def test_uvicorn_gets_keepalive_pings_and_a_header_timeout_by_default() -> None:
    ctx = run.make_context("run", ["examples.demo:app"])
    settings = _servers.uvicorn_settings(ctx)
    http = settings.pop("http")
    assert settings == {"ws_ping_interval": 20.0, "ws_ping_timeout": 20.0}
    assert http.func is HttpToolsHeadTimeoutProtocol
    assert http.keywords == {"header_timeout": 10.0}


def test_ping_settings_reach_uvicorn_and_zero_turns_them_off() -> None:
    args = ["examples.demo:app", "--ws-ping-interval", "0.5", "--ws-ping-timeout", "0"]
    ctx = run.make_context("run", args)
    settings = _servers.uvicorn_settings(ctx)
    assert (settings["ws_ping_interval"], settings["ws_ping_timeout"]) == (0.5, None)


def test_the_header_timeout_reaches_uvicorns_protocol() -> None:
    ctx = run.make_context("run", ["examples.demo:app", "--header-timeout", "2.5"])
    assert _servers.uvicorn_settings(ctx)["http"].keywords == {"header_timeout": 2.5}


@pytest.mark.parametrize(
    ("given", "milliseconds"), [([], 10_000), (["--header-timeout", "1.5"], 1500)]
)
def test_granian_gets_the_header_timeout_in_milliseconds(
    given: list[str], milliseconds: int
) -> None:
    ctx = run.make_context("run", ["examples.demo:app", "--server", "granian", *given])
    settings = _servers.granian_settings(ctx)
    assert list(settings) == ["http1_settings"]
    assert settings["http1_settings"].header_read_timeout == milliseconds


def test_a_header_timeout_past_granians_limit_is_refused() -> None:
    args = ["run", "examples.demo:app", "--server", "granian", "--header-timeout", "90"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert "--header-timeout is at most 60 seconds with --server granian, not 90" in result.output


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


# --- Slow clients: the head and body timeouts ---------------------------------------------
#
# Each case runs against carafe run --header-timeout 1 --body-timeout 1 under both
# servers; a socket timeout of 15 s is the "generous bound" a closed connection must
# come within. After each case the server still answers a normal request.

BOUND = 15.0


@pytest.fixture(scope="module", params=SERVERS)
def strict(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    live = LiveServer(
        "tests.realtime_app:app",
        "--server",
        request.param,
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
    )
    try:
        yield request.param, live.port
    finally:
        live.stop()


def trickle(sock: socket.socket, stop: Callable[[bytes], bool]) -> bytes:
    """Send a byte every 0.2 s until the server closes (or ``stop`` says so); what it sent."""
    sock.settimeout(0.2)
    deadline = time.monotonic() + BOUND
    data = b""
    try:
        while not stop(data):
            assert time.monotonic() < deadline, f"still open after {BOUND} s: {data[:200]!r}"
            sock.sendall(b"a")
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return data
            data += chunk
    except (ConnectionResetError, BrokenPipeError):
        return data
    return data + until_closed(sock, BOUND)


def still_serves(port: int) -> None:
    status, _, body = exchange(port, b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    assert b"echo_ended" in body


@pytest.mark.slow
def test_a_request_head_that_stalls_is_cut(strict: tuple[str, int]) -> None:
    """uvicorn (Carafe's protocol) answers 408 and closes; granian closes silently."""
    name, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Slow: a")
        data = until_closed(sock, BOUND)
    if name == "uvicorn":
        assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
        assert b"connection: close" in data
    else:
        assert data == b""
    still_serves(port)


@pytest.mark.slow
def test_a_slowloris_head_a_byte_at_a_time_is_cut(strict: tuple[str, int]) -> None:
    """Bytes that keep coming do not extend the deadline: it runs from the head's start."""
    name, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        data = trickle(sock, stop=lambda data: False)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n") if name == "uvicorn" else not data
    still_serves(port)


@pytest.mark.slow
def test_a_connection_that_sends_nothing_is_closed_under_uvicorn(strict: tuple[str, int]) -> None:
    """granian (hyper) starts its header timer at the first byte: see docs/deployment.md."""
    name, port = strict
    if name != "uvicorn":
        pytest.skip("granian keeps a connection that sends nothing (docs/deployment.md)")
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert until_closed(sock, BOUND) == b""
    still_serves(port)


@pytest.mark.slow
def test_the_next_head_on_a_kept_alive_connection_has_the_same_deadline(
    strict: tuple[str, int],
) -> None:
    name, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\n\r\nGET /stats HTTP/1.1\r\nHo")
        data = until_closed(sock, BOUND)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.count(b"HTTP/1.1 ") == (2 if name == "uvicorn" else 1)
    if name == "uvicorn":
        assert b"HTTP/1.1 408 Request Timeout" in data
    still_serves(port)


@pytest.mark.slow
def test_a_body_that_stalls_is_answered_408(strict: tuple[str, int]) -> None:
    """Carafe's body timeout, the same under both servers; the connection closes after."""
    _, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        data = until_closed(sock, BOUND)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert b"connection: close" in head.lower()
    assert b"application/problem+json" in head
    assert b"The request body did not arrive in time" in body
    still_serves(port)


@pytest.mark.slow
def test_a_body_trickled_a_byte_at_a_time_is_answered_408(strict: tuple[str, int]) -> None:
    """No gap reaches the timeout, but the body falls behind the minimum rate."""
    _, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n")
        data = trickle(sock, stop=lambda data: b"\r\n\r\n" in data)
    assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    still_serves(port)


@pytest.mark.slow
def test_an_unread_body_that_stalls_after_the_response_is_cut(strict: tuple[str, int]) -> None:
    """The handler answers without reading the body; the rest never comes."""
    _, port = strict
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /stats HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
        data = until_closed(sock, BOUND)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    still_serves(port)


@pytest.mark.slow
def test_a_body_that_keeps_coming_is_read_in_full(strict: tuple[str, int]) -> None:
    """A client that pauses less than the timeout between chunks is not cut."""
    _, port = strict
    with socket.create_connection(("127.0.0.1", port), timeout=BOUND) as sock:
        sock.sendall(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n")
        for _ in range(4):
            time.sleep(0.1)
            sock.sendall(b"x" * 250)
        data = b""
        while b"}" not in data:
            data += sock.recv(65536)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b'{"size":1000}')
