"""``Request`` and the data structures behind it, seen from a handler."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from carafe import Carafe, HTTPError, Request
from carafe.datastructures import (
    URL,
    Address,
    Headers,
    MutableHeaders,
    QueryParams,
    State,
    parse_cookies,
    parse_query,
)
from carafe.exceptions import ClientDisconnect
from carafe.requests import read_body
from carafe.testing import TestClient


def test_request_properties() -> None:
    app = Carafe()

    @app.get("/inspect/{name}")
    async def inspect_(request: Request, name: str) -> dict[str, Any]:
        return {
            "method": request.method,
            "path": request.path,
            "url": str(request.url),
            "base_url": str(request.base_url),
            "hostname": request.url.hostname,
            "query": request.query_params.multi_items(),
            "tags": request.query_params.getlist("tag"),
            "first_tag": request.query_params["tag"],
            "cookies": request.cookies,
            "client": list(request.client or ()),
            "path_params": request.path_params,
            "accept": request.headers.getlist("accept"),
            "url_for": request.url_for("inspect_", name="other"),
            "repr": repr(request),
        }

    client = TestClient(app, cookies={"a": "1", "b": "two words"})
    body = client.get(
        "/inspect/me?tag=x&tag=y&empty=",
        headers=[("accept", "text/html"), ("accept", "*/*")],
    ).json()
    assert body == {
        "method": "GET",
        "path": "/inspect/me",
        "url": "http://testserver/inspect/me?tag=x&tag=y&empty=",
        "base_url": "http://testserver/",
        "hostname": "testserver",
        "query": [["tag", "x"], ["tag", "y"], ["empty", ""]],
        "tags": ["x", "y"],
        "first_tag": "x",
        "cookies": {"a": "1", "b": "two words"},
        "client": ["127.0.0.1", 50000],
        "path_params": {"name": "me"},
        "accept": ["text/html", "*/*"],
        "url_for": "/inspect/other",
        "repr": "<Request GET /inspect/me>",
    }


def test_body_can_be_read_twice_and_in_a_hook() -> None:
    app = Carafe()
    seen: list[bytes] = []

    @app.before_request
    async def peek(request: Request) -> None:
        seen.append(await request.body())

    @app.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        raw = await request.body()
        chunks = [chunk async for chunk in request.stream()]
        return {
            "raw": raw.decode(),
            "again": b"".join(chunks).decode(),
            "json": await request.json(),
        }

    body = TestClient(app).post("/echo", json={"a": 1}).json()
    assert body == {"raw": '{"a":1}', "again": '{"a":1}', "json": {"a": 1}}
    assert seen == [b'{"a":1}']


def test_stream_without_reading_body_first() -> None:
    app = Carafe()

    @app.post("/count")
    async def count(request: Request) -> int:
        return sum([len(chunk) async for chunk in request.stream()])

    def chunks() -> Any:
        yield b"a" * 1000
        yield b"b" * 1000

    assert TestClient(app).post("/count", content=chunks()).json() == 2000


def test_request_json_errors() -> None:
    app = Carafe()

    @app.post("/j")
    async def j(request: Request) -> Any:
        return await request.json()

    response = TestClient(app).post("/j", content=b"{nope")
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["detail"]


def test_state_is_per_request_and_seeded() -> None:
    app = Carafe()

    @app.before_request
    def mark(request: Request) -> None:
        request.state.user = "ann"

    @app.get("/")
    async def index(request: Request) -> dict[str, Any]:
        return {"user": request.state.user, "has": "user" in request.state}

    assert TestClient(app).get("/").json() == {"user": "ann", "has": True}
    state = State()
    state.x = 1
    assert state.x == 1
    del state.x
    with pytest.raises(AttributeError, match="no attribute 'x'"):
        _ = state.x


def test_url_without_host_header_uses_server() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "path": "/p",
        "headers": [],
        "query_string": b"",
        "server": ("example.com", 8443),
    }
    assert str(Request(scope).url) == "https://example.com:8443/p"
    scope["server"] = ("example.com", 443)
    assert str(Request(scope).url) == "https://example.com/p"
    del scope["server"]
    assert str(Request(scope).url) == "https://localhost/p"
    assert Request(scope).client is None


def test_read_body_rejects_lies_and_bad_lengths() -> None:
    async def run(
        headers: list[tuple[bytes, bytes]], messages: list[dict[str, Any]], limit: int
    ) -> bytes:
        queue = list(messages)

        async def receive() -> dict[str, Any]:
            return queue.pop(0)

        return await read_body({"headers": headers}, receive, limit)

    more = [
        {"type": "http.request", "body": b"x" * 60, "more_body": True},
        {"type": "http.request", "body": b"x" * 60, "more_body": False},
    ]
    # Content-Length says 10, the client sends 120: stopped on the bytes received.
    with pytest.raises(HTTPError) as info:
        asyncio.run(run([(b"content-length", b"10")], more, 100))
    assert info.value.status_code == 413
    with pytest.raises(HTTPError) as info:
        asyncio.run(run([(b"content-length", b"1000")], more, 100))
    assert info.value.status_code == 413
    with pytest.raises(HTTPError) as info:
        asyncio.run(run([(b"content-length", b"-1")], more, 100))
    assert info.value.status_code == 400
    with pytest.raises(HTTPError) as info:
        asyncio.run(run([(b"content-length", b"9" * 30)], more, 100))
    assert info.value.status_code == 400
    assert asyncio.run(run([], more, 1000)) == b"x" * 120
    with pytest.raises(ClientDisconnect):
        asyncio.run(run([], [{"type": "http.disconnect"}], 100))


def test_disconnect_while_reading_gets_a_bare_400() -> None:
    """A client that left never reads it; one whose server could not read the body
    (granian, past 16 KiB of trailers) gets a 4xx, not the server's own 500."""
    app = Carafe()

    @app.post("/slow")
    async def slow(request: Request) -> int:
        return len(await request.body())

    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/slow",
        "headers": [],
        "query_string": b"",
    }
    app.compile()
    asyncio.run(app(scope, receive, send))
    assert [m.get("status") for m in sent] == [400, None]
    assert b"ended before it was complete" in sent[1]["body"]


def test_headers_structures() -> None:
    headers = Headers([(b"content-type", b"text/html"), (b"x-a", b"1"), (b"X-A", b"2")])
    assert headers["Content-Type"] == "text/html"
    assert headers.getlist("x-a") == ["1", "2"]
    assert "X-A" in headers
    assert 5 not in headers
    assert len(headers) == 2
    assert list(headers) == ["content-type", "x-a"]
    assert headers.get("missing", "d") == "d"
    assert "content-type" in repr(headers)
    mutable = MutableHeaders([(b"vary", b"Accept")])
    mutable["X-New"] = "1"
    mutable.append("set-cookie", "a=1")
    mutable.append("set-cookie", "b=2")
    assert mutable.getlist("set-cookie") == ["a=1", "b=2"]
    assert mutable.setdefault("x-new", "2") == "1"
    assert mutable.setdefault("x-other", "3") == "3"
    mutable.update({"x-new": "4"})
    assert mutable["x-new"] == "4"
    mutable.add_vary("Cookie")
    mutable.add_vary("cookie")
    assert mutable["vary"] == "Accept, Cookie"
    del mutable["vary"]
    mutable.add_vary("Origin")
    assert mutable["vary"] == "Origin"


def test_query_and_cookie_parsing() -> None:
    assert parse_query(b"") == {}
    assert parse_query("a=1&&b=%20x+y&c&%C3%A9=%E2%82%AC") == {
        "a": ["1"],
        "b": [" x y"],
        "c": [""],
        "é": ["€"],
    }
    assert parse_query(b"bad=%ZZ%FF")["bad"] == ["%ZZ\ufffd"]
    query = QueryParams({"a": ["1", "2"]})
    assert query["a"] == "1"
    assert query.getlist("missing") == []
    assert len(query) == 1
    assert list(query) == ["a"]
    assert repr(query) == "QueryParams([('a', '1'), ('a', '2')])"
    assert parse_cookies('a=1; b="quoted"; junk; =x; c=%41; a=second') == {
        "a": "1",
        "b": "quoted",
        "c": "A",
    }


def test_url_and_address() -> None:
    url = URL("http", "user@[::1]:8000", "/a b", "q=1")
    assert url.hostname == "::1"
    assert str(url) == "http://user@[::1]:8000/a%20b?q=1"
    assert url == "http://user@[::1]:8000/a%20b?q=1"
    assert hash(url) == hash(str(url))
    assert repr(url.replace(query="")) == "URL('http://user@[::1]:8000/a%20b')"
    assert URL("http", "example.com:80", "/").hostname == "example.com"
    address = Address("1.2.3.4", 5)
    host, port = address
    assert (host, port) == ("1.2.3.4", 5)
    assert address == ("1.2.3.4", 5)
    assert address != "1.2.3.4"
    assert hash(address) == hash(("1.2.3.4", 5))
    assert repr(address) == "Address(host='1.2.3.4', port=5)"


# --- The Host a URL is built from ------------------------------------------------------


def host_app() -> Carafe:
    app = Carafe()

    @app.get("/where")
    def where(request: Request) -> dict[str, str]:
        return {"url": str(request.url), "base": str(request.base_url)}

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    return app


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("example.com", "http://example.com/where"),
        ("Example.COM.:8000", "http://Example.COM.:8000/where"),
        ("[::1]:8000", "http://[::1]:8000/where"),
        ("127.0.0.1", "http://127.0.0.1/where"),
        ("my_service", "http://my_service/where"),
    ],
)
def test_url_is_built_from_a_good_host(host: str, url: str) -> None:
    assert TestClient(host_app()).get("/where", headers={"host": host}).json()["url"] == url


@pytest.mark.parametrize(
    "host",
    ["localhost/abc?x=", "evil.test#", "user@evil.test", "a b", "", ":80", "x" * 5000],
)
def test_an_ill_formed_host_is_a_400(host: str) -> None:
    response = TestClient(host_app()).get("/where", headers={"host": host})
    assert response.status_code == 400
    assert "is not a host name" in response.json()["detail"]
    assert len(response.content) < 300


def test_two_host_headers_are_a_400() -> None:
    client = TestClient(host_app())
    response = client.get("/where", headers=[("host", "good.test"), ("host", "evil.test")])
    assert response.status_code == 400
    assert response.json()["detail"] == "The request has more than one Host header."
    # Checked where a URL is built from it: a route that builds none is answered.
    plain = client.get("/plain", headers=[("host", "good.test"), ("host", "evil.test")])
    assert plain.text == "ok"
