"""Malformed requests against a real uvicorn server: a clear 4xx each, and it keeps serving.

Requests are written as raw bytes on a socket so that no client library can tidy them up.
"""

from __future__ import annotations

import enum
import json
import socket
from typing import Any

import pytest

from carafe import Carafe
from carafe.testing import TestClient


def raw_request(port: int, data: bytes, timeout: float = 10.0) -> tuple[int, dict[str, str], bytes]:
    """Send ``data``, read one response; returns (status, headers, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)  # every request says Connection: close; the server ends it
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers, body


def request(
    method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    all_headers = {"Content-Length": str(len(body)), **(headers or {})}
    lines += [f"{k}: {v}" for k, v in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@pytest.fixture(scope="module")
def port() -> Any:
    from tests.conftest import LiveServer

    server = LiveServer("tests.apps.core_app:app")
    yield server.port
    server.stop()


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        (request("POST", "/items", b'{"name": "x", ', JSON), 400, "not valid JSON"),
        (request("POST", "/items", b'{"name": "x", "price": "cheap"}', JSON), 422, "validation"),
        (request("POST", "/items", b"\xff\xfe\x00garbage", JSON), 400, "not valid JSON"),
        (
            request("POST", "/items", b'{"name":"x","price":1}', {"Content-Type": "text/plain"}),
            415,
            "JSON",
        ),
        (request("POST", "/any", b"[" * 200_000, JSON), 413, "larger than the limit"),
        (
            request("POST", "/any", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, JSON),
            400,
            "nested too deeply",
        ),
        (
            b"POST /any HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 99999999999\r\nConnection: close\r\n\r\n{}",
            413,
            "larger than the limit",
        ),
        (request("PROPFIND", "/health"), 405, "not allowed"),
        (request("GET", "/items/%00"), 422, "validation"),
        (request("GET", "/items/" + "9" * 5000), 422, "validation"),
        (request("GET", "//health"), 404, "Nothing is at"),
        (request("GET", "/../../etc/passwd"), 404, "Nothing is at"),
        (request("GET", "/" + "a" * 6000), 404, "Nothing is at"),
    ],
    ids=[
        "truncated-json",
        "wrong-type",
        "binary-junk",
        "text-plain-json",
        "body-over-limit",
        "deep-json",
        "huge-content-length",
        "unknown-method",
        "nul-in-path",
        "huge-int",
        "double-slash",
        "dot-dot",
        "long-path",
    ],
)
def test_bad_request_gets_clear_4xx(port: int, data: bytes, status: int, detail: str) -> None:
    got, headers, body = raw_request(port, data)
    assert got == status
    assert headers["content-type"] == "application/problem+json"
    problem = json.loads(body)
    assert problem["status"] == status
    assert detail in problem["detail"]
    assert "Traceback" not in body.decode("latin-1")
    # and the server goes on serving
    ok, _, health = raw_request(port, request("GET", "/health"))
    assert (ok, json.loads(health)) == (200, {"status": "ok"})


def test_chunked_body_over_limit_is_stopped(port: int) -> None:
    chunk = b"a" * 8192
    pieces = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(20)) + b"0\r\n\r\n"
    data = (
        b"POST /any HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + pieces
    )
    status, _, body = raw_request(port, data)
    assert status == 413
    assert b"larger than the limit" in body


def test_malformed_http_is_rejected_by_the_server(port: int) -> None:
    status, _, _ = raw_request(
        port, b"POST /any HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    )
    assert status == 400
    # A method the HTTP parser does not know never reaches the app.
    status, _, _ = raw_request(port, request("BREW", "/health"))
    assert status == 400
    ok, _, _ = raw_request(port, request("GET", "/health"))
    assert ok == 200


def test_client_that_disconnects_mid_body(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /any HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000\r\n\r\n" + b"[" * 100
        )
    ok, _, _ = raw_request(port, request("GET", "/health"))
    assert ok == 200


# --- What an error repeats of the input ------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        request("GET", "/" + "a" * 60_000),  # uvicorn refuses a URL of 64 KiB
        request("POST", "/items", b"{}", {"Content-Type": "text/" + "x" * 100_000}),
    ],
    ids=["404-path", "415-content-type"],
)
def test_an_error_echoes_at_most_a_hundred_characters(port: int, data: bytes) -> None:
    status, _, body = raw_request(port, data)
    assert status in (404, 415)
    detail = json.loads(body)["detail"]
    assert len(detail) < 200
    assert detail.endswith("....")  # the cut, then the sentence's full stop


class Colour(enum.Enum):
    red = "red"


def test_validation_messages_and_methods_are_cut_short() -> None:
    app = Carafe()

    @app.get("/paint")
    def paint(colour: Colour) -> str:
        return colour.value

    client = TestClient(app)
    error = client.get("/paint", params={"colour": "z" * 10_000}).json()["errors"][0]
    assert error["msg"].startswith("Invalid enum value 'zzz")
    assert error["msg"].endswith("...") and len(error["msg"]) < 210
    response = client.request("X" * 10_000, "/paint")
    assert response.status_code == 405
    assert len(response.text) < 400


# --- Query and header limits, trailers ---------------------------------------------------


def chunked(path: str, body: bytes, trailers: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + b"%x\r\n%s\r\n0\r\n%s\r\n" % (len(body), body, trailers)


@pytest.mark.parametrize(
    ("data", "status", "detail"),
    [
        (
            request("GET", "/search?" + "&".join(f"f{i}=1" for i in range(1001))),
            400,
            "more than 1000 fields",
        ),
        (request("GET", "/search?q=" + "a" * 40_000), 414, "longer than the limit"),
        (request("POST", "/headers", headers={"X-Big": "a" * 65_536}), 431, "larger than"),
        (
            request("POST", "/headers", headers={f"X-{i}": "v" for i in range(10_000)}),
            431,
            "more than 100 headers",
        ),
    ],
    ids=["1001-query-fields", "40k-query", "64k-header", "10000-headers"],
)
def test_query_and_header_limits_under_uvicorn(
    port: int, data: bytes, status: int, detail: str
) -> None:
    got, headers, body = raw_request(port, data)
    assert (got, headers["content-type"]) == (status, "application/problem+json")
    assert detail in json.loads(body)["detail"]
    assert len(body) < 300


def test_chunked_trailers_count_as_headers(port: int) -> None:
    # uvicorn's httptools parser appends trailers to the request's headers (h11 drops
    # them), where no app can tell them apart: they count against the header limits.
    few = b"T-1: v\r\n"
    status, _, body = raw_request(port, chunked("/headers", b"abc", few))
    assert (status, json.loads(body)) == (200, {"headers": 4, "body": 3})
    many = b"".join(b"T-%d: v\r\n" % i for i in range(10_000))
    status, _, body = raw_request(port, chunked("/headers", b"abc", many))
    assert status == 431
    assert "more than 100 headers" in json.loads(body)["detail"]


@pytest.mark.parametrize(
    ("hosts", "detail"),
    [
        (b"Host: good.test\r\nHost: evil.test\r\n", "more than one Host header"),
        (b"Host: localhost/abc?x=\r\n", "is not a host name"),
    ],
    ids=["two-hosts", "path-in-host"],
)
def test_a_url_is_never_built_from_a_bad_host(port: int, hosts: bytes, detail: str) -> None:
    data = b"GET /url HTTP/1.1\r\n" + hosts + b"Connection: close\r\n\r\n"
    status, _, body = raw_request(port, data)
    assert status == 400
    assert detail in json.loads(body)["detail"]


@pytest.mark.parametrize("path", ["/public/../admin/x", "/public/%2e%2e/admin/x", "/public/./x"])
def test_dot_segments_never_reach_a_path_parameter(port: int, path: str) -> None:
    status, _, body = raw_request(port, request("GET", path))
    assert status == 404
    assert json.loads(body)["detail"].startswith("Nothing is at /public/")
    ok, _, rest = raw_request(port, request("GET", "/public/a/b.txt"))
    assert (ok, rest) == (200, b"a/b.txt")
