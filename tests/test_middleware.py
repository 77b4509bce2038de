"""Middleware: CORS, GZip, trusted hosts, security headers, and how the app chains them."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from carafe import Carafe, HTTPError, Response, StreamingResponse, WebSocket
from carafe.context import context_of
from carafe.exceptions import WebSocketDisconnect
from carafe.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)
from carafe.middleware.gzip import _Compressor, accepts_gzip
from carafe.middleware.trustedhost import host_name
from carafe.testing import TestClient
from carafe.types import ASGIApp, Message, Receive, Scope, Send

BIG = "carafe " * 200  # 1400 bytes, compresses well
A = "https://a.example"


def make_app() -> Carafe:
    app = Carafe()

    @app.get("/")
    def index() -> dict[str, str]:
        return {"hello": "world"}

    @app.get("/big")
    def big() -> str:
        return BIG

    @app.post("/echo")
    async def echo(data: dict[str, Any]) -> dict[str, Any]:
        return data

    return app


def raw_body(client: TestClient, path: str, **kwargs: Any) -> tuple[Any, bytes]:
    """The response and its body bytes as sent, before httpx decodes gzip."""
    with client.stream("GET", path, **kwargs) as response:
        return response, b"".join(response.iter_raw())


# --- Chaining -------------------------------------------------------------------------


def test_no_middleware_means_the_bare_dispatcher() -> None:
    app = make_app()
    with TestClient(app) as client:
        assert client.get("/").json() == {"hello": "world"}
    assert app._entry == app._dispatch


def test_last_added_middleware_runs_first() -> None:
    seen: list[str] = []

    def tagging(app: ASGIApp, name: str) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            seen.append(f"{name} in")

            async def send_tagged(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message["headers"] = [*message["headers"], (b"x-order", name.encode())]
                await send(message)

            await app(scope, receive, send_tagged)
            seen.append(f"{name} out")

        return middleware

    app = make_app()
    app.add_middleware(tagging, name="first")
    app.add_middleware(tagging, name="second")
    client = TestClient(app)
    response = client.get("/")
    assert seen == ["second in", "first in", "first out", "second out"]
    # The inner middleware tags the head first; the outer one appends after it.
    assert response.headers.get_list("x-order") == ["first", "second"]
    assert app._entry != app._dispatch


def rewriting(app: ASGIApp, *, to: str) -> ASGIApp:
    """Middleware that serves every request from another path."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = {**scope, "path": to}
        await app(scope, receive, send)

    return middleware


def route_reader(app: ASGIApp, *, seen: list[str | None]) -> ASGIApp:
    """Middleware that records the route it was told the request will reach."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            route = context_of(scope).route
            seen.append(None if route is None else route.path)
        await app(scope, receive, send)

    return middleware


@pytest.mark.parametrize("to", ["/big", "/missing"])
def test_a_path_rewritten_by_middleware_is_routed_anew(to: str) -> None:
    seen: list[str | None] = []
    app = make_app()
    app.add_middleware(rewriting, to=to)
    app.add_middleware(route_reader, seen=seen)  # outermost: sees the request as sent
    with TestClient(app) as client:
        response = client.get("/")
        # Middleware knew the route of the path as sent; the handler that runs is the
        # one for the path as rewritten, however the route was found before.
        assert seen == ["/"]
        if to == "/big":
            assert response.text == BIG
        else:
            assert response.status_code == 404


def test_middleware_sees_the_route_and_the_route_answers_once() -> None:
    seen: list[str | None] = []
    app = make_app()
    app.add_middleware(route_reader, seen=seen)
    with TestClient(app) as client:
        assert client.get("/").json() == {"hello": "world"}
        assert client.post("/").status_code == 405  # the path's table, another method
        assert client.get("/nowhere").status_code == 404
    assert seen == ["/", None, None]


def test_adding_middleware_after_the_first_request_rebuilds_the_chain() -> None:
    app = make_app()
    client = TestClient(app)
    assert "x-frame-options" not in client.get("/").headers
    app.add_middleware(SecurityHeadersMiddleware)
    assert client.get("/").headers["x-frame-options"] == "DENY"


def failing_middleware(app: ASGIApp, *, after_start: bool = False) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if after_start:
            await app(scope, receive, send)
        raise RuntimeError("middleware broke")

    return middleware


def test_error_in_middleware_is_a_500_problem() -> None:
    app = make_app()
    app.add_middleware(failing_middleware)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["title"] == "Internal Server Error"
    assert "middleware broke" not in response.text
    assert client.get("/big").status_code == 500  # and the server keeps answering


def test_error_in_middleware_reaches_the_test_by_default() -> None:
    app = make_app()
    app.add_middleware(failing_middleware)
    with pytest.raises(RuntimeError, match="middleware broke"):
        TestClient(app).get("/")


def test_error_in_middleware_after_the_response_started_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_app()
    app.add_middleware(failing_middleware, after_start=True)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/")
    assert response.status_code == 200  # the head was already on the wire
    assert "Error after the response started" in caplog.text


def test_http_error_raised_in_middleware_is_its_problem_response() -> None:
    def refusing(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                raise HTTPError(429, "Slow down.", {"retry-after": "5"})
            await app(scope, receive, send)

        return middleware

    app = make_app()
    app.add_middleware(refusing)
    with TestClient(app) as client:  # the lifespan passes through untouched
        response = client.get("/")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "5"
    assert response.json()["detail"] == "Slow down."


# --- CORS -----------------------------------------------------------------------------


def cors_client(**options: Any) -> TestClient:
    app = make_app()
    app.add_middleware(CORSMiddleware, **options)
    return TestClient(app)


def preflight(
    client: TestClient, origin: str = A, method: str = "POST", headers: str | None = None
) -> Any:
    asked = {"origin": origin, "access-control-request-method": method}
    if headers is not None:
        asked["access-control-request-headers"] = headers
    return client.options("/echo", headers=asked)


def test_cors_simple_request_from_an_allowed_origin() -> None:
    client = cors_client(allow_origins=[A], expose_headers=["X-Total"])
    for _ in range(2):  # the second time from the middleware's per-origin cache
        response = client.get("/", headers={"origin": A})
        assert response.json() == {"hello": "world"}
        assert response.headers["access-control-allow-origin"] == A
        assert response.headers["vary"] == "Origin"
        assert response.headers["access-control-expose-headers"] == "X-Total"
        assert "access-control-allow-credentials" not in response.headers


def test_cors_request_without_origin_is_untouched() -> None:
    client = cors_client(allow_origins=[A])
    response = client.get("/")
    assert response.json() == {"hello": "world"}
    assert not any(name.startswith("access-control") for name in response.headers)
    assert "vary" not in response.headers


def test_cors_disallowed_origin_gets_no_allow_header() -> None:
    client = cors_client(allow_origins=[A])
    response = client.get("/", headers={"origin": "https://evil.example"})
    assert response.status_code == 200  # the browser, not the server, withholds it
    assert "access-control-allow-origin" not in response.headers
    assert response.headers["vary"] == "Origin"


def test_cors_any_origin_without_credentials_is_a_star() -> None:
    client = cors_client(allow_origins="*")
    response = client.get("/", headers={"origin": "https://anyone.example"})
    assert response.headers["access-control-allow-origin"] == "*"


def test_cors_credentials_echo_the_origin_never_star() -> None:
    client = cors_client(allow_origins="*", allow_credentials=True)
    response = client.get("/", headers={"origin": "https://anyone.example"})
    assert response.headers["access-control-allow-origin"] == "https://anyone.example"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["vary"] == "Origin"


@pytest.mark.parametrize(
    "options",
    [
        {"allow_origins": "*", "allow_credentials": True},
        {"allow_origins": [A], "allow_credentials": True},
        {"allow_origin_regex": ".*", "allow_credentials": True},
        {"allow_origin_regex": ".*"},
    ],
)
def test_cors_never_grants_the_null_origin_unless_listed(options: dict[str, Any]) -> None:
    client = cors_client(**options)
    response = client.get("/", headers={"origin": "null"})
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-credentials" not in response.headers
    refused = preflight(client, origin="null", method="GET")
    assert refused.status_code == 400
    assert "origin 'null' is not allowed" in refused.text


def test_cors_null_origin_when_listed_or_public() -> None:
    listed = cors_client(allow_origins=["null"], allow_credentials=True)
    response = listed.get("/", headers={"origin": "null"})
    assert response.headers["access-control-allow-origin"] == "null"
    public = cors_client(allow_origins="*")  # no cookies go with a "*" answer
    assert public.get("/", headers={"origin": "null"}).headers["access-control-allow-origin"] == "*"


def test_cors_origin_regex() -> None:
    client = cors_client(allow_origin_regex=r"https://[a-z]+\.shop\.example")
    ok = client.get("/", headers={"origin": "https://eu.shop.example"})
    assert ok.headers["access-control-allow-origin"] == "https://eu.shop.example"
    # The whole origin must match: a suffix added by an attacker does not.
    bad = client.get("/", headers={"origin": "https://eu.shop.example.evil.test"})
    assert "access-control-allow-origin" not in bad.headers


def test_cors_answers_right_past_its_origin_cache() -> None:
    client = cors_client(allow_origin_regex=r"https://s\d+\.example")
    for n in range(270):  # more distinct origins than the middleware remembers
        allowed = client.get("/", headers={"origin": f"https://s{n}.example"})
        assert allowed.headers["access-control-allow-origin"] == f"https://s{n}.example"
    refused = client.get("/", headers={"origin": "https://x1.example"})
    assert "access-control-allow-origin" not in refused.headers


def test_cors_replaces_the_apps_own_allow_origin_and_keeps_its_vary() -> None:
    app = Carafe()

    @app.get("/")
    def index() -> Response:
        return Response(
            b"hi",
            headers={"access-control-allow-origin": "https://stale.example", "vary": "Cookie"},
        )

    app.add_middleware(CORSMiddleware, allow_origins=[A])
    response = TestClient(app).get("/", headers={"origin": A})
    assert response.headers.get_list("access-control-allow-origin") == [A]
    assert response.headers["vary"] == "Cookie, Origin"


def test_cors_adds_origin_to_vary_once() -> None:
    app = Carafe()

    @app.get("/")
    def index() -> Response:
        return Response(b"hi", headers={"vary": "origin"})

    app.add_middleware(CORSMiddleware, allow_origins=[A])
    response = TestClient(app).get("/", headers={"origin": A})
    assert response.headers.get_list("vary") == ["origin"]


def test_cors_preflight_allowed() -> None:
    client = cors_client(
        allow_origins=[A],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization", "X-Request-Id"],
        allow_credentials=True,
        max_age=3600,
    )
    response = preflight(client, headers="authorization, Content-Type")
    assert response.status_code == 204
    assert response.content == b""
    headers = response.headers
    assert headers["access-control-allow-origin"] == A
    assert headers["access-control-allow-methods"] == "GET, POST"
    allowed = {h.strip() for h in headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "x-request-id", "content-type"} <= allowed
    assert headers["access-control-allow-credentials"] == "true"
    assert headers["access-control-max-age"] == "3600"
    assert headers["vary"] == "Origin"


def test_cors_preflight_with_wildcards_echoes_what_was_asked() -> None:
    client = cors_client(allow_origins="*", allow_methods="*", allow_headers="*")
    response = preflight(client, method="DELETE", headers="X-Anything, X-Else")
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["access-control-allow-methods"] == "DELETE"
    assert response.headers["access-control-allow-headers"] == "X-Anything, X-Else"
    bare = preflight(client, method="GET")
    assert bare.status_code == 204
    assert "access-control-allow-headers" not in bare.headers


@pytest.mark.parametrize(
    ("origin", "method", "headers", "reason"),
    [
        ("https://evil.example", "POST", None, "origin 'https://evil.example' is not allowed"),
        (A, "DELETE", None, "method 'DELETE' is not allowed"),
        (A, "POST", "X-Secret, content-type", "header(s) x-secret not allowed"),
    ],
)
def test_cors_preflight_refused_with_a_reason(
    origin: str, method: str, headers: str | None, reason: str
) -> None:
    client = cors_client(allow_origins=[A], allow_methods=["GET", "POST"])
    response = preflight(client, origin, method, headers)
    assert response.status_code == 400
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.text == f"CORS preflight refused: {reason}."
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "access-control-allow-origin" not in response.headers


def test_plain_options_request_reaches_the_app() -> None:
    client = cors_client(allow_origins=[A])
    response = client.options("/echo", headers={"origin": A})  # not a preflight
    assert response.status_code == 204
    assert response.headers["allow"] == "POST, OPTIONS"
    assert response.headers["access-control-allow-origin"] == A


def test_cors_rejects_a_broken_origin_pattern() -> None:
    from carafe import ConfigurationError

    with pytest.raises(ConfigurationError, match="is not a valid pattern"):
        CORSMiddleware(make_app(), allow_origin_regex="https://(unclosed")


@pytest.mark.parametrize("origin", ["https://a.example/", "a.example", "https://a.example/x"])
def test_cors_rejects_an_origin_that_is_not_one(origin: str) -> None:
    from carafe import ConfigurationError

    app = make_app()
    app.add_middleware(CORSMiddleware, allow_origins=[origin])
    with pytest.raises(ConfigurationError, match="is not an origin"):
        TestClient(app)  # the chain is built with the route table, so it fails here


# --- GZip -----------------------------------------------------------------------------


def gzip_app() -> Carafe:
    app = make_app()

    @app.get("/small")
    def small() -> str:
        return "tiny"

    @app.get("/stream")
    def stream() -> StreamingResponse:
        return StreamingResponse(iter([BIG] * 5), media_type="text/plain")

    @app.get("/events")
    async def events() -> StreamingResponse:
        async def feed() -> AsyncIterator[str]:
            yield "data: " + BIG + "\n\n"

        return StreamingResponse(feed(), media_type="text/event-stream")

    @app.get("/encoded")
    def encoded() -> Response:
        return Response(gzip.compress(BIG.encode()), headers={"content-encoding": "gzip"})

    @app.get("/etag")
    def etag() -> Response:
        return Response(BIG, headers={"etag": '"v1"'}, media_type="text/plain")

    @app.get("/no-transform")
    def no_transform() -> Response:
        headers = {"cache-control": "no-transform"}
        return Response(BIG, headers=headers, media_type="text/plain")

    @app.get("/png")
    def png() -> Response:
        return Response(b"\x89PNG" + b"\0" * 2000, media_type="image/png")

    @app.get("/empty", status_code=204)
    def empty() -> None:
        return None

    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=9)
    return app


def test_gzip_compresses_a_large_body() -> None:
    client = TestClient(gzip_app())
    response, raw = raw_body(client, "/big", headers={"accept-encoding": "gzip, br"})
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["vary"] == "Accept-Encoding"
    assert int(response.headers["content-length"]) == len(raw) < len(BIG)
    assert gzip.decompress(raw).decode() == BIG
    # httpx decodes it as any client would.
    assert client.get("/big", headers={"accept-encoding": "gzip"}).text == BIG


def test_gzip_leaves_small_bodies_alone() -> None:
    client = TestClient(gzip_app())
    response, raw = raw_body(client, "/small", headers={"accept-encoding": "gzip"})
    assert raw == b"tiny"
    assert "content-encoding" not in response.headers
    assert response.headers["content-length"] == "4"


def test_gzip_only_when_the_client_accepts_it() -> None:
    client = TestClient(gzip_app())
    for header in ("identity", "gzip;q=0", "br"):
        response, raw = raw_body(client, "/big", headers={"accept-encoding": header})
        assert raw == BIG.encode(), header
        assert "content-encoding" not in response.headers
    response, raw = raw_body(client, "/big", headers={"accept-encoding": ""})
    assert raw == BIG.encode()
    del client.headers["accept-encoding"]  # httpx sends one unless told not to
    response, raw = raw_body(client, "/big")
    assert raw == BIG.encode()


def test_gzip_answers_right_past_its_accept_encoding_cache() -> None:
    client = TestClient(gzip_app())
    for n in range(1, 270):  # more distinct values than the middleware remembers
        response, _ = raw_body(client, "/big", headers={"accept-encoding": f"gzip;q=0.{n:03d}"})
        assert response.headers["content-encoding"] == "gzip"
    response, raw = raw_body(client, "/big", headers={"accept-encoding": "gzip;q=0.000"})
    assert raw == BIG.encode()


def test_accept_encoding_parsing() -> None:
    assert accepts_gzip(b"gzip")
    assert accepts_gzip(b"deflate, GZIP;q=0.5")
    assert accepts_gzip(b"x-gzip")
    assert accepts_gzip(b"*")
    assert accepts_gzip(b"gzip;level=1")
    assert not accepts_gzip(b"gzip;q=0.0")
    assert not accepts_gzip(b"*;q=0")
    assert not accepts_gzip(b"gzip;q=oops")
    assert not accepts_gzip(b"*, gzip;q=0")  # the explicit refusal wins
    assert not accepts_gzip(b"deflate")


def test_gzip_streams_chunk_by_chunk() -> None:
    client = TestClient(gzip_app())
    with client.stream("GET", "/stream", headers={"accept-encoding": "gzip"}) as response:
        assert response.headers["content-encoding"] == "gzip"
        assert "content-length" not in response.headers
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pieces = [decompressor.decompress(chunk) for chunk in response.iter_raw()]
    # Every chunk was flushed: each one decompresses on its own into a whole piece.
    assert [p for p in pieces if p] == [BIG.encode()] * 5
    assert decompressor.eof


@pytest.mark.parametrize("path", ["/events", "/encoded", "/no-transform", "/png"])
def test_gzip_skips_what_should_not_be_compressed(path: str) -> None:
    client = TestClient(gzip_app())
    response, _ = raw_body(client, path, headers={"accept-encoding": "gzip"})
    assert response.status_code == 200
    encoding = response.headers.get("content-encoding")
    assert encoding == ("gzip" if path == "/encoded" else None)
    assert "vary" not in response.headers


def test_gzip_keeps_an_already_gzipped_body_as_it_is() -> None:
    client = TestClient(gzip_app())
    _, raw = raw_body(client, "/encoded", headers={"accept-encoding": "gzip"})
    assert gzip.decompress(raw).decode() == BIG  # compressed once, not twice


def test_gzip_weakens_a_strong_etag() -> None:
    client = TestClient(gzip_app())
    response = client.get("/etag", headers={"accept-encoding": "gzip"})
    assert response.headers["etag"] == 'W/"v1"'
    assert response.text == BIG
    plain = client.get("/etag", headers={"accept-encoding": "identity"})
    assert plain.headers["etag"] == '"v1"'


def test_gzip_leaves_bodiless_and_head_responses_alone() -> None:
    client = TestClient(gzip_app())
    empty = client.get("/empty", headers={"accept-encoding": "gzip"})
    assert empty.status_code == 204
    assert "content-encoding" not in empty.headers
    head = client.head("/big", headers={"accept-encoding": "gzip"})
    assert head.status_code == 200
    assert head.content == b""
    assert "content-encoding" not in head.headers


def test_gzip_passes_other_messages_through() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        headers = [(b"content-type", b"text/plain")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.pathsend", "path": "/dev/null"})

    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    scope = {"type": "http", "headers": [(b"accept-encoding", b"gzip")]}
    asyncio.run(GZipMiddleware(app)(scope, receive, send))
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.pathsend"]
    assert sent[0]["headers"] == [(b"content-type", b"text/plain")]


def test_gzip_compresses_big_bodies_off_the_event_loop() -> None:
    import random

    noise = random.Random(7)
    # Half-random text: compressible, and big enough to go to the thread pool.
    lines = [f"{noise.getrandbits(64):x} {BIG[:40]}\n" for _ in range(20_000)]
    document = "".join(lines)
    app = Carafe()

    @app.get("/report")
    def report() -> str:
        return document

    @app.get("/report/stream")
    def report_stream() -> StreamingResponse:
        return StreamingResponse(iter([document, document]), media_type="text/plain")

    app.add_middleware(GZipMiddleware)
    client = TestClient(app)
    response, raw = raw_body(client, "/report", headers={"accept-encoding": "gzip"})
    assert len(document) > 256 * 1024
    assert int(response.headers["content-length"]) == len(raw) < len(document) // 2
    assert gzip.decompress(raw).decode() == document
    streamed = client.get("/report/stream", headers={"accept-encoding": "gzip"})
    assert streamed.text == document * 2


def test_gzip_holding_the_head_lets_a_failing_stream_become_a_500() -> None:
    app = Carafe()

    @app.get("/fails")
    def fails() -> StreamingResponse:
        def chunks() -> Iterator[str]:
            raise RuntimeError("broken before the first chunk")
            yield "never"  # pragma: no cover

        return StreamingResponse(chunks(), media_type="text/plain")

    app.add_middleware(GZipMiddleware)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/fails", headers={"accept-encoding": "gzip"})
    # GZip had not sent the 200 head yet, so the client gets a clean 500 instead.
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"


def test_gzip_per_response_state_is_slotted() -> None:
    async def send(message: Message) -> None:
        pass  # pragma: no cover

    assert not hasattr(_Compressor(GZipMiddleware(make_app()), send), "__dict__")


def test_gzip_rejects_a_bad_level() -> None:
    with pytest.raises(ValueError, match="between 1 and 9"):
        GZipMiddleware(make_app(), compresslevel=0)


# --- Trusted hosts --------------------------------------------------------------------


def host_client(**options: Any) -> TestClient:
    app = make_app()
    app.add_middleware(TrustedHostMiddleware, **options)
    return TestClient(app, follow_redirects=False)


def test_trusted_host_allows_listed_hosts_and_subdomains() -> None:
    client = host_client(allowed_hosts=["example.com", "*.example.org"])
    for host in ("example.com", "EXAMPLE.com:8443", "example.com.", "api.example.org"):
        response = client.get("/", headers={"host": host})
        assert response.json() == {"hello": "world"}, host


@pytest.mark.parametrize(
    "host",
    [
        "evil.test",
        "example.org",
        "example.com.evil.test",
        "evil.test/.example.org",  # would pass a bare suffix test and poison links
        "evil.test?.example.org",
        "evil.test#.example.org",
        "user@evil.test",
        "example.com:80:80",
        "example..com",
    ],
)
def test_trusted_host_refuses_others_with_a_problem(host: str) -> None:
    client = host_client(allowed_hosts=["example.com", "*.example.org"])
    response = client.get("/", headers={"host": host})
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == f"This server does not answer for host {host!r}."


def test_trusted_host_refuses_a_missing_host() -> None:
    app = make_app()
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])
    scope: dict[str, Any] = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [],
        "query_string": b"",
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    app.compile()
    asyncio.run(app(scope, receive, send))
    assert sent[0]["status"] == 400
    assert b"no Host header" in sent[1]["body"]


def test_trusted_host_refuses_two_host_headers() -> None:
    client = host_client(allowed_hosts=["example.com"])
    response = client.get("/", headers=[("host", "example.com"), ("host", "evil.test")])
    assert response.status_code == 400
    assert response.json()["detail"] == "The request has more than one Host header."


def test_trusted_host_www_redirect() -> None:
    client = host_client(allowed_hosts=["www.example.com"], www_redirect=True)
    response = client.get("/big?x=1", headers={"host": "example.com:8000"})
    assert response.status_code == 301
    assert response.headers["location"] == "http://www.example.com:8000/big?x=1"
    plain = client.get("/big", headers={"host": "example.com"})
    assert plain.headers["location"] == "http://www.example.com/big"
    # Without www_redirect it is simply refused.
    assert host_client(allowed_hosts=["www.example.com"]).get("/").status_code == 400


def test_trusted_host_star_lets_everything_through() -> None:
    client = host_client()
    assert client.get("/", headers={"host": "whatever.test"}).status_code == 200


def test_trusted_host_closes_a_websocket_for_another_host() -> None:
    app = Carafe()

    @app.websocket("/ws")
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com"])
    client = TestClient(app)
    with (
        pytest.raises(WebSocketDisconnect) as refused,
        client.websocket_connect("/ws", headers={"host": "evil.test"}),
    ):
        pass  # pragma: no cover - the handshake fails
    assert refused.value.code == 1008
    with client.websocket_connect("/ws", headers={"host": "example.com"}) as websocket:
        assert websocket.receive_text() == "hello"


@pytest.mark.parametrize(
    "pattern", ["https://example.com", "example.com:80", "example.*", "*", "*.", "a/b"]
)
def test_trusted_host_patterns_are_checked(pattern: str) -> None:
    from carafe import ConfigurationError

    if pattern == "*":
        TrustedHostMiddleware(make_app(), allowed_hosts=[pattern])
        return
    with pytest.raises(ConfigurationError, match="must be a host name"):
        TrustedHostMiddleware(make_app(), allowed_hosts=[pattern])


def test_trusted_host_wants_a_list() -> None:
    from carafe import ConfigurationError

    with pytest.raises(ConfigurationError, match="not one string"):
        TrustedHostMiddleware(make_app(), allowed_hosts="example.com")


def test_host_name() -> None:
    assert host_name("Example.COM.:8000") == "example.com"
    assert host_name("[::1]:8000") == "[::1]"
    assert host_name("[::1") == ""
    assert host_name("a.test/.b.test") == ""
    assert host_name("") == ""
    assert TrustedHostMiddleware(make_app(), allowed_hosts=["[::1]"]).allows("[::1]")


# --- Security headers -----------------------------------------------------------------


def test_security_headers_defaults() -> None:
    app = make_app()
    app.add_middleware(SecurityHeadersMiddleware)
    with TestClient(app) as client:
        headers = client.get("/").headers
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "strict-origin-when-cross-origin"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "strict-transport-security" not in headers
    assert "content-security-policy" not in headers


def test_security_headers_options_and_the_handler_wins() -> None:
    app = make_app()

    @app.get("/embeddable")
    def embeddable() -> Response:
        return Response(b"ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    app.add_middleware(
        SecurityHeadersMiddleware,
        frame_options="DENY",
        hsts_max_age=31_536_000,
        hsts_include_subdomains=True,
        hsts_preload=True,
        content_security_policy="default-src 'self'",
        permissions_policy="camera=()",
        referrer_policy=None,
    )
    client = TestClient(app)
    headers = client.get("/").headers
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains; preload"
    assert headers["content-security-policy"] == "default-src 'self'"
    assert headers["permissions-policy"] == "camera=()"
    assert "referrer-policy" not in headers
    assert client.get("/embeddable").headers.get_list("x-frame-options") == ["SAMEORIGIN"]


def test_security_headers_plain_hsts() -> None:
    app = make_app()
    app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=600)
    assert TestClient(app).get("/").headers["strict-transport-security"] == "max-age=600"


def test_security_headers_all_off_is_a_pass_through() -> None:
    app = make_app()
    app.add_middleware(
        SecurityHeadersMiddleware,
        content_type_options=False,
        frame_options=None,
        referrer_policy=None,
        cross_origin_opener_policy=None,
    )
    headers = TestClient(app).get("/").headers
    assert set(headers) == {"content-type", "content-length"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"hsts_include_subdomains": True}, "need hsts_max_age"),
        ({"hsts_max_age": -1}, "must not be negative"),
        ({"hsts_max_age": 60, "hsts_preload": True, "hsts_include_subdomains": True}, "preload"),
        ({"hsts_max_age": 31_536_000, "hsts_preload": True}, "preload"),
    ],
)
def test_security_headers_hsts_mistakes(options: dict[str, Any], message: str) -> None:
    from carafe import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        SecurityHeadersMiddleware(make_app(), **options)


# --- Together -------------------------------------------------------------------------


def test_the_shipped_middleware_together() -> None:
    app = gzip_app()
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(CORSMiddleware, allow_origins=[A])
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["testserver"])
    headers = {"origin": A, "accept-encoding": "gzip"}
    with TestClient(app) as client:
        response = client.get("/big", headers=headers)
        assert response.text == BIG
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["vary"] == "Accept-Encoding, Origin"
        assert response.headers["access-control-allow-origin"] == A
        assert response.headers["x-frame-options"] == "DENY"
        refused = client.get("/big", headers={**headers, "host": "evil.test"})
        assert refused.status_code == 400


def test_the_docs_example() -> None:
    from docs.examples.middleware import app

    with TestClient(app, base_url="https://shop.example", follow_redirects=False) as client:
        headers = {"origin": "https://shop.example", "accept-encoding": "gzip"}
        catalog = client.get("/catalog", headers=headers)
        assert len(catalog.json()["items"]) == 100
        assert catalog.headers["content-encoding"] == "gzip"
        assert catalog.headers["access-control-allow-origin"] == "https://shop.example"
        assert catalog.headers["strict-transport-security"] == "max-age=31536000"
        assert len(catalog.headers["x-request-id"]) == 32
        given = client.get("/catalog", headers={"x-request-id": "abc"})
        assert given.headers["x-request-id"] == "abc"
        to_login = client.get("/admin")
        assert (to_login.status_code, to_login.headers["location"]) == (303, "/login")
        assert to_login.headers["x-request-id"]
        client.cookies.set("session", "s1")
        assert client.get("/admin").text == "the admin page"
        assert client.get("/catalog", headers={"host": "elsewhere.example"}).status_code == 400
        assert client.get("/login", headers={"host": "eu.shop.example"}).text == "log in here"
