"""The response family, as a client sees it: bodies, headers, cookies, redirects, streams.

``FileResponse`` has its own tests in test_staticfiles.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import msgspec
import pytest

from carafe import (
    Carafe,
    FileResponse,
    HTMLResponse,
    HTTPError,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Request,
    Response,
    StreamingResponse,
)
from carafe.responses import ProblemResponse
from carafe.testing import AsyncTestClient, TestClient


def serve(response: Any) -> Any:
    """A client for an app whose one route returns ``response`` (or what it makes)."""
    app = Carafe()

    @app.get("/")
    def index() -> Any:
        return response() if callable(response) and not isinstance(response, Response) else response

    return TestClient(app)


# --- Bodies and content types ----------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "body"),
    [
        (b"raw \x00 bytes", b"raw \x00 bytes"),
        ("caf\u00e9", "caf\u00e9".encode()),
        (bytearray(b"array"), b"array"),
        (memoryview(b"view"), b"view"),
    ],
)
def test_response_bodies(content: Any, body: bytes) -> None:
    with serve(Response(content, media_type="application/x-thing")) as client:
        response = client.get("/")
    assert response.content == body
    assert response.headers["content-type"] == "application/x-thing"
    assert response.headers["content-length"] == str(len(body))


def test_response_refuses_other_content() -> None:
    with pytest.raises(TypeError, match="Response cannot send a dict"):
        Response({"a": 1})


def test_response_without_media_type_has_no_content_type() -> None:
    with serve(Response(b"x", status_code=202)) as client:
        response = client.get("/")
    assert response.status_code == 202
    assert "content-type" not in response.headers


def test_text_types_get_a_charset_once() -> None:
    assert Response("x", media_type="text/csv").headers["content-type"] == "text/csv; charset=utf-8"
    explicit = Response("x", media_type="text/csv; charset=latin-1")
    assert explicit.headers["content-type"] == "text/csv; charset=latin-1"


def test_html_and_plain_text() -> None:
    with serve(HTMLResponse("<h1>hi</h1>")) as client:
        html = client.get("/")
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert html.text == "<h1>hi</h1>"
    with serve(PlainTextResponse("plain", status_code=418)) as client:
        text = client.get("/")
    assert text.status_code == 418
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "plain"


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Item(msgspec.Struct):
    name: str
    when: datetime


def test_json_response_encodes_once_with_msgspec() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    content = {"point": Point(1, 2), "item": Item("kettle", when), "list": [1, "two", None]}
    with serve(JSONResponse(content, status_code=201)) as client:
        response = client.get("/")
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "point": {"x": 1, "y": 2},
        "item": {"name": "kettle", "when": "2024-05-01T12:00:00Z"},
        "list": [1, "two", None],
    }
    assert response.headers["content-length"] == str(len(response.content))


def test_problem_response_from_an_error() -> None:
    error = HTTPError(409, "The name is taken.", {"retry-after": "5"})
    with serve(ProblemResponse.from_error(error)) as client:
        response = client.get("/")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "The name is taken.",
    }


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_have_no_content_length(status: int) -> None:
    with serve(Response(b"", status_code=status)) as client:
        response = client.get("/")
    assert response.status_code == status
    assert "content-length" not in response.headers
    assert response.content == b""


def test_given_content_type_and_length_are_not_duplicated() -> None:
    response = JSONResponse({"a": 1}, headers={"Content-Type": "application/vnd.api+json"})
    assert [k for k, _ in response.raw_headers].count(b"content-type") == 1
    assert response.headers["content-type"] == "application/vnd.api+json"
    sized = Response(b"abc", headers={"content-length": "3"})
    assert [k for k, _ in sized.raw_headers].count(b"content-length") == 1


def test_headers_view_writes_through() -> None:
    response = PlainTextResponse("hi", headers={"X-One": "1"})
    headers = response.headers
    assert headers["x-one"] == "1"
    headers["X-Two"] = "2"
    headers.append("vary", "Accept")
    headers.add_vary("Cookie")
    del headers["x-one"]
    with serve(response) as client:
        sent = client.get("/")
    assert sent.headers["x-two"] == "2"
    assert sent.headers["vary"] == "Accept, Cookie"
    assert "x-one" not in sent.headers
    assert repr(response) == "<PlainTextResponse 200>"


def test_background_runs_after_the_body() -> None:
    events: list[str] = []

    async def after() -> None:
        events.append("background")

    with serve(lambda: PlainTextResponse("done", background=after)) as client:
        assert client.get("/").text == "done"
    assert events == ["background"]


# --- Cookies -----------------------------------------------------------------------------


def cookie_headers(response: Response) -> list[str]:
    return [v.decode("latin-1") for k, v in response.raw_headers if k == b"set-cookie"]


def test_cookie_defaults_are_safe() -> None:
    response = Response()
    response.set_cookie("session", "abc")
    assert cookie_headers(response) == ["session=abc; HttpOnly; Path=/; SameSite=Lax"]


def test_cookie_options() -> None:
    response = Response()
    response.set_cookie(
        "pref",
        "dark mode; yes",
        max_age=3600,
        expires=datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC),
        path="/app",
        domain="example.com",
        secure=True,
        httponly=False,
        samesite="Strict",  # type: ignore[arg-type]
        partitioned=True,
    )
    (header,) = cookie_headers(response)
    parts = header.split("; ")
    assert parts[0] == "pref=dark%20mode%3B%20yes"
    assert set(parts[1:]) == {
        "Domain=example.com",
        "expires=Wed, 02 Jan 2030 03:04:05 GMT",
        "Max-Age=3600",
        "Path=/app",
        "SameSite=Strict",
        "Secure",
        "Partitioned",
    }
    assert "HttpOnly" not in parts


def test_cookie_expires_as_text_or_seconds_and_no_samesite() -> None:
    response = Response()
    response.set_cookie("a", "1", expires="Thu, 01 Jan 2037 00:00:00 GMT", samesite=None)
    response.set_cookie("b", "2", expires=60)
    first, second = cookie_headers(response)
    assert first == "a=1; expires=Thu, 01 Jan 2037 00:00:00 GMT; HttpOnly; Path=/"
    assert "expires=" in second and second.endswith("GMT; HttpOnly; Path=/; SameSite=Lax")


def test_samesite_none_requires_secure() -> None:
    response = Response()
    with pytest.raises(ValueError, match="must also be Secure"):
        response.set_cookie("x", "1", samesite="none")
    with pytest.raises(ValueError, match="must also be Secure"):
        response.set_cookie("x", "1", samesite="None")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="samesite must be"):
        response.set_cookie("x", "1", samesite="sometimes")  # type: ignore[arg-type]
    response.set_cookie("x", "1", samesite="none", secure=True)
    assert cookie_headers(response) == ["x=1; HttpOnly; Path=/; SameSite=None; Secure"]


@pytest.mark.parametrize(
    "attribute",
    [{"path": "/; Domain=evil.example"}, {"domain": "a.example\r\nX: y"}, {"expires": "x; Secure"}],
)
def test_cookie_attributes_cannot_be_smuggled(attribute: dict[str, str]) -> None:
    with pytest.raises(ValueError, match=r"cannot contain ';'|not a host name: no ';'"):
        Response().set_cookie("x", "1", **attribute)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"domain": "b\u00fccher.example"}, "IDNA form"),
        ({"domain": "evil.example;"}, "not a host name"),
        ({"domain": "a.example, b.example"}, "not a host name"),
        ({"domain": ""}, "not a host name"),
        ({"path": "/caf\u00e9"}, "non-ASCII"),
        ({"path": "/a\tb"}, "control"),
        ({"expires": "Thu, 01 Jan 2099 00:00:00 GMT\x00"}, "control"),
        ({"key": "a b"}, "not a valid cookie name"),
        ({"key": "a;b"}, "not a valid cookie name"),
        ({"key": "caf\u00e9"}, "not a valid cookie name"),
        ({"key": "path"}, "cannot be a cookie name"),
    ],
)
def test_cookies_that_would_be_sent_mangled_are_refused(
    options: dict[str, str], message: str
) -> None:
    key = options.pop("key", "x")
    with pytest.raises(ValueError, match=message):
        Response().set_cookie(key, "1", **options)  # type: ignore[arg-type]


def test_cookie_domains_that_are_fine() -> None:
    response = Response()
    for domain in (".example.com", "xn--bcher-kva.example", "localhost", "my_host.lan"):
        response.set_cookie("x", "1", domain=domain)
    assert [h.split("Domain=")[1].split(";")[0] for h in cookie_headers(response)] == [
        ".example.com",
        "xn--bcher-kva.example",
        "localhost",
        "my_host.lan",
    ]


def test_delete_cookie_expires_it_with_the_same_scope() -> None:
    response = Response()
    response.delete_cookie("session", path="/app", domain="example.com")
    (header,) = cookie_headers(response)
    parts = set(header.split("; "))
    assert {"session=", "Max-Age=0", "Path=/app", "Domain=example.com"} <= parts
    assert "expires=Thu, 01 Jan 1970 00:00:00 GMT" in parts
    assert {"HttpOnly", "SameSite=Lax"} <= parts


@pytest.mark.parametrize(
    "value",
    [
        "plain",
        "dark mode; yes",
        'quote " and \\ back',
        "100% sure, really",
        "caf\u00e9 \u20ac",
        "a=b&c",
    ],
)
def test_cookie_values_round_trip(value: str) -> None:
    app = Carafe()

    @app.get("/set")
    def set_it() -> Response:
        response = PlainTextResponse("set")
        response.set_cookie("pref", value)
        return response

    @app.get("/read")
    def read(request: Request) -> dict[str, str]:
        return request.cookies

    with TestClient(app) as client:
        header = client.get("/set").headers["set-cookie"]
        stored = header.split(";", 1)[0].removeprefix("pref=")
        assert not set(stored) & set(' ;,"\\'), stored  # nothing a cookie cannot carry
        assert client.get("/read").json() == {"pref": value}


def test_cookies_reach_the_client() -> None:
    def make() -> Response:
        response = PlainTextResponse("ok")
        response.set_cookie("session", "abc")
        response.set_cookie("theme", "dark", httponly=False)
        return response

    with serve(make) as client:
        response = client.get("/")
        assert response.headers.get_list("set-cookie") == [
            "session=abc; HttpOnly; Path=/; SameSite=Lax",
            "theme=dark; Path=/; SameSite=Lax",
        ]
        assert client.cookies["session"] == "abc"


# --- Redirects -------------------------------------------------------------------------


def redirect_app(status_code: int | None = None) -> Carafe:
    app = Carafe()

    @app.route("/old", methods=["GET", "HEAD", "OPTIONS", "POST", "PUT", "PATCH", "DELETE"])
    def old() -> Response:
        return RedirectResponse("/new", status_code)

    @app.route("/new", methods=["GET", "POST"])
    async def new(request: Request) -> dict[str, Any]:
        return {"method": request.method, "body": (await request.body()).decode()}

    return app


def test_a_redirect_after_a_post_is_a_303_so_the_body_is_not_sent_again() -> None:
    with TestClient(redirect_app()) as client:
        for method in ("POST", "PUT", "PATCH", "DELETE"):
            response = client.request(method, "/old", content=b"card=4242")
            assert response.history[0].status_code == 303, method
            assert response.json() == {"method": "GET", "body": ""}


def test_a_redirect_after_a_get_is_a_307() -> None:
    with TestClient(redirect_app(), follow_redirects=False) as client:
        for method in ("GET", "HEAD", "OPTIONS"):
            response = client.request(method, "/old")
            assert response.status_code == 307, method
            assert response.headers["location"] == "/new"
    assert RedirectResponse("/new").status_code == 307  # until it is sent


def test_a_redirect_status_given_is_kept() -> None:
    with TestClient(redirect_app(307)) as client:
        response = client.post("/old", content=b"a=1")
    assert response.history[0].status_code == 307
    assert response.json() == {"method": "POST", "body": "a=1"}
    with TestClient(redirect_app(308), follow_redirects=False) as client:
        assert client.get("/old").status_code == 308
        assert client.delete("/old").status_code == 308


def test_a_redirect_runs_its_background_after_sending() -> None:
    done: list[str] = []

    async def note() -> None:
        done.append("ran")

    with serve(RedirectResponse("/next", background=note)) as client:
        assert client.get("/", follow_redirects=False).status_code == 307
    assert done == ["ran"]


def test_the_trailing_slash_redirect_keeps_the_method_and_body() -> None:
    app = Carafe()

    @app.post("/items/")
    async def items(request: Request) -> str:
        return (await request.body()).decode()

    with TestClient(app) as client:
        response = client.post("/items", content=b"name=tea")
    assert response.history[0].status_code == 307
    assert response.text == "name=tea"


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("/search?q=a b&lang=fr", "/search?q=a%20b&lang=fr"),
        ("/caf\u00e9/menu", "/caf%C3%A9/menu"),
        ("https://example.com/a/b#top", "https://example.com/a/b#top"),
        ("/already%20quoted", "/already%20quoted"),
        ("/x\r\nSet-Cookie: evil=1", "/x%0D%0ASet-Cookie:%20evil=1"),
    ],
)
def test_redirect_location_is_quoted(url: str, location: str) -> None:
    with serve(RedirectResponse(url, status_code=303, headers={"x-why": "moved"})) as client:
        response = client.get("/", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == location
    assert response.headers["x-why"] == "moved"
    assert "set-cookie" not in response.headers
    assert response.content == b""


# --- Streaming -------------------------------------------------------------------------


def test_streaming_from_a_sync_iterator_runs_in_a_thread() -> None:
    threads: list[str] = []

    def chunks() -> Iterator[str | bytes]:
        threads.append(threading.current_thread().name)
        yield "caf\u00e9 "
        yield b"bytes "
        yield "done"

    headers = {"x-total": "3"}
    with serve(
        lambda: StreamingResponse(chunks(), headers=headers, media_type="text/csv")
    ) as client:
        response = client.get("/")
    assert response.text == "caf\u00e9 bytes done"
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["x-total"] == "3"
    assert "content-length" not in response.headers
    assert threads and threads[0].startswith("carafe")


def test_streaming_from_an_async_iterator_chunk_by_chunk() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for number in range(3):
            await asyncio.sleep(0)
            yield f"chunk {number}\n".encode()

    with (
        serve(lambda: StreamingResponse(chunks())) as client,
        client.stream("GET", "/") as response,
    ):
        received = list(response.iter_raw())
    assert received == [b"chunk 0\n", b"chunk 1\n", b"chunk 2\n"]


def test_streaming_from_a_list_and_an_async_iterable_object() -> None:
    class Countdown:
        def __aiter__(self) -> AsyncIterator[str]:
            return self.run()

        async def run(self) -> AsyncIterator[str]:
            for number in (3, 2, 1):
                yield str(number)

    with serve(lambda: StreamingResponse(["a", "b"])) as client:
        assert client.get("/").text == "ab"
    with serve(lambda: StreamingResponse(Countdown())) as client:
        assert client.get("/").text == "321"


def test_streaming_from_a_plain_async_iterator() -> None:
    class Ticker:
        """An async iterator with no ``aclose``: nothing to close when the client leaves."""

        def __init__(self) -> None:
            self.left = 2

        def __aiter__(self) -> Ticker:
            return self

        async def __anext__(self) -> bytes:
            if not self.left:
                raise StopAsyncIteration
            self.left -= 1
            return b"tick "

    with serve(lambda: StreamingResponse(Ticker())) as client:
        assert client.get("/").content == b"tick tick "


def test_streaming_keeps_a_given_content_length() -> None:
    make = lambda: StreamingResponse([b"12345"], headers={"content-length": "5"})  # noqa: E731
    with serve(make) as client:
        response = client.get("/")
    assert response.headers["content-length"] == "5"
    assert response.content == b"12345"


def test_streaming_background_runs_after_the_last_chunk() -> None:
    events: list[str] = []

    def chunks() -> Iterator[bytes]:
        yield b"x"
        events.append("last chunk")

    async def after() -> None:
        events.append("background")

    with serve(lambda: StreamingResponse(chunks(), background=after)) as client:
        assert client.get("/").content == b"x"
    assert events == ["last chunk", "background"]


def test_an_error_in_the_stream_reaches_the_server() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b"partial"
        raise RuntimeError("the feed broke")

    with (
        serve(lambda: StreamingResponse(chunks())) as client,
        pytest.raises(RuntimeError, match="the feed broke"),
    ):
        client.get("/")


def test_async_generator_is_closed_when_the_client_leaves() -> None:
    events: list[str] = []
    background: list[str] = []

    async def forever() -> AsyncIterator[bytes]:
        try:
            number = 0
            while True:
                yield f"{number}\n".encode()
                number += 1
                await asyncio.sleep(0.001)
        finally:
            events.append("closed")

    async def after() -> None:
        background.append("ran")

    with serve(lambda: StreamingResponse(forever(), background=after)) as client:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"0\n"
        assert events == ["closed"]
        # The server goes on serving, and each stream is closed in turn.
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"0\n"
        assert events == ["closed", "closed"]
    assert background == []  # the response never finished, so its background did not run


def test_sync_generator_is_closed_when_the_client_leaves_mid_step() -> None:
    events: list[str] = []
    stepping = threading.Event()

    def slow() -> Iterator[bytes]:
        try:
            yield b"first"
            while True:
                stepping.set()
                time.sleep(0.05)  # a blocking step, running in a thread when the client goes
                yield b"more"
        finally:
            events.append("closed")

    with serve(lambda: StreamingResponse(slow())) as client:
        with client.stream("GET", "/") as response:
            assert next(response.iter_raw()) == b"first"
            assert stepping.wait(5)
        assert events == ["closed"]


def test_async_test_client_streams_too() -> None:
    async def chunks() -> AsyncIterator[str]:
        yield "a"
        yield "b"

    app = Carafe()

    @app.get("/")
    async def index() -> StreamingResponse:
        return StreamingResponse(chunks(), media_type="text/plain")

    async def run() -> str:
        async with AsyncTestClient(app) as client:
            return (await client.get("/")).text

    assert asyncio.run(run()) == "ab"


def test_head_of_a_streamed_route_never_starts_the_stream() -> None:
    started: list[str] = []
    background: list[str] = []

    async def endless() -> AsyncIterator[bytes]:
        started.append("started")
        while True:
            yield b"tick"
            await asyncio.sleep(0.01)

    async def after() -> None:
        background.append("ran")

    make = lambda: StreamingResponse(endless(), media_type="text/plain", background=after)  # noqa: E731
    with serve(make) as client:
        response = client.head("/")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.content == b""
    assert started == []
    assert background == ["ran"]


def test_file_response_is_part_of_the_family() -> None:
    assert issubclass(FileResponse, Response)


# --- A real server: the client hangs up ------------------------------------------------


def read_some_and_hang_up(port: int, path: str, wanted: int = 4096) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        received = b""
        while len(received) < wanted:
            chunk = sock.recv(65536)
            assert chunk, "the server closed first"
            received += chunk
    return received


@pytest.mark.slow
def test_streams_are_closed_when_a_real_client_hangs_up(live_server: Any) -> None:
    server = live_server("tests.apps.streams_app:app")
    for kind in ("async", "sync"):
        head = read_some_and_hang_up(server.port, f"/stream/{kind}")
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"transfer-encoding: chunked" in head.lower()
    deadline = time.monotonic() + 10
    closed: list[str] = []
    while time.monotonic() < deadline:
        closed = httpx.get(f"{server.url}/closed").json()
        if len(closed) == 2:
            break
        time.sleep(0.05)
    assert sorted(closed) == ["async", "sync"]
