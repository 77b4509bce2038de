"""Websocket routes and the WebSocket class, through the in-process test clients.

Faults that need a real connection (oversized and malformed frames, a client that
never reads) are in test_websockets_server.py, against uvicorn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import msgspec
import pytest

from carafe import (
    Carafe,
    Cookie,
    Depends,
    Header,
    HTTPConnection,
    HTTPError,
    RequestValidationError,
    Router,
    WebSocket,
    WebSocketDisconnect,
)
from carafe.exceptions import ConfigurationError
from carafe.testing import AsyncTestClient, TestClient, WebSocketDenied
from carafe.websockets import _reason


class Chat(msgspec.Struct):
    text: str
    to: list[str] = []


def current_user(connection: HTTPConnection, token: str | None = None) -> str:
    """One auth dependency for HTTP and websocket routes alike."""
    if token != "secret":
        raise HTTPError(401, "A valid token is required.", {"WWW-Authenticate": "Bearer"})
    return f"ann@{connection.url.scheme}"


def make_app() -> tuple[Carafe, list[str]]:
    app = Carafe()
    events: list[str] = []

    async def resource() -> AsyncIterator[str]:
        events.append("open")
        try:
            yield "db"
        finally:
            events.append("closed")

    @app.get("/me")
    def me(user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
        return {"user": user}

    @app.websocket("/rooms/{room}")
    async def room(
        ws: WebSocket,
        room: str,
        user: Annotated[str, Depends(current_user)],
        lang: str = "en",
        agent: Annotated[str | None, Header(alias="user-agent")] = None,
        theme: Annotated[str | None, Cookie()] = None,
    ) -> None:
        await ws.accept()
        await ws.send_json(
            {"room": room, "user": user, "lang": lang, "agent": agent, "theme": theme}
        )

    @app.websocket("/echo")
    async def echo(ws: WebSocket, db: str = Depends(resource)) -> None:
        await ws.accept()
        try:
            async for text in ws.iter_text():
                await ws.send_text(f"{db}:{text}")
        finally:
            events.append("handler ended")

    add_message_routes(app)
    return app, events


def add_message_routes(app: Carafe) -> None:
    @app.websocket("/chat")
    async def chat(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            try:
                message = await ws.receive_json(Chat)
            except RequestValidationError as exc:
                await ws.send_json({"errors": exc.errors})
                continue
            await ws.send_json(message)

    @app.websocket("/strict")
    async def strict(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_json(Chat)

    @app.websocket("/text")
    async def text_only(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text(await ws.receive_text())

    @app.websocket("/binary")
    async def binary_only(ws: WebSocket) -> None:
        await ws.accept()
        data = await ws.receive_bytes()
        await ws.send_bytes(data[::-1])
        await ws.send_json({"n": len(data)}, binary=True)

    @app.websocket("/small", max_message_size=8)
    async def small(ws: WebSocket) -> None:
        await ws.accept()
        while True:
            await ws.send_text(await ws.receive_text())


@pytest.fixture
def app_events() -> tuple[Carafe, list[str]]:
    return make_app()


@pytest.fixture
def client(app_events: tuple[Carafe, list[str]]) -> Iterator[TestClient]:
    with TestClient(app_events[0]) as client:
        yield client


# --- Parameters, dependencies, auth ---------------------------------------------------


def test_path_query_header_cookie_and_dependency(client: TestClient) -> None:
    client.cookies.set("theme", "dark")
    with client.websocket_connect(
        "/rooms/lobby?token=secret&lang=fr", headers={"User-Agent": "pytest"}
    ) as ws:
        assert ws.receive_json() == {
            "room": "lobby",
            "user": "ann@ws",
            "lang": "fr",
            "agent": "pytest",
            "theme": "dark",
        }
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1000  # the handler returned: a normal close


def test_the_same_auth_dependency_serves_http(client: TestClient) -> None:
    assert client.get("/me?token=secret").json() == {"user": "ann@http"}
    assert client.get("/me").status_code == 401


def test_failed_auth_denies_the_handshake_with_a_problem_response(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/rooms/lobby"):
        pass
    response = denied.value.response
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "A valid token is required."


def test_invalid_parameter_denies_with_422_and_the_errors(client: TestClient) -> None:
    app = Carafe()

    @app.websocket("/count/{n}")
    async def count(ws: WebSocket, n: int) -> None:
        await ws.accept()

    with TestClient(app) as other, pytest.raises(WebSocketDenied) as denied:
        with other.websocket_connect("/count/many"):
            pass
    assert denied.value.response.status_code == 422
    assert denied.value.response.json()["errors"][0]["loc"] == ["path", "n"]


def test_without_the_http_response_extension_a_denial_closes_1008(client: TestClient) -> None:
    ws = client.websocket_connect("/rooms/lobby")
    ws.session.scope["extensions"] = {}
    with pytest.raises(WebSocketDisconnect) as closed, ws:
        pass
    assert closed.value.code == 1008
    assert closed.value.reason == "A valid token is required."


def test_unknown_path_is_denied_with_404(client: TestClient) -> None:
    with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/nowhere"):
        pass
    assert denied.value.response.status_code == 404
    assert "No websocket route is at /nowhere" in denied.value.response.json()["detail"]


def test_routers_prefix_websocket_routes_and_names_build_urls() -> None:
    app = Carafe()
    api = Router(prefix="/api", name="api")

    @api.websocket("/live/{channel}")
    async def live(ws: WebSocket, channel: str) -> None:
        await ws.accept(subprotocol=ws.subprotocols[0] if ws.subprotocols else None)
        await ws.send_text(channel)

    app.include(api)
    assert app.url_path_for("api.live", channel="news") == "/api/live/news"
    with TestClient(app) as client, client.websocket_connect("/api/live/news") as ws:
        assert ws.receive_text() == "news"


def test_subprotocol_and_accept_headers() -> None:
    app = Carafe()

    @app.websocket("/proto")
    async def proto(ws: WebSocket) -> None:
        chosen = "graphql-ws" if "graphql-ws" in ws.subprotocols else None
        await ws.accept(subprotocol=chosen, headers={"X-Server": "carafe"})
        await ws.send_text(",".join(ws.subprotocols))

    with TestClient(app) as client:
        with client.websocket_connect("/proto", subprotocols=["mqtt", "graphql-ws"]) as ws:
            assert ws.subprotocol == "graphql-ws"
            assert ws.headers["x-server"] == "carafe"
            assert ws.receive_text() == "mqtt,graphql-ws"
        with client.websocket_connect("/proto") as ws:
            assert ws.subprotocol is None


def test_sync_websocket_handler_is_a_configuration_error() -> None:
    app = Carafe()

    @app.websocket("/sync")
    def sync(ws: WebSocket) -> None: ...

    with pytest.raises(ConfigurationError, match="must be an async function"):
        app.compile()


def test_websocket_parameter_on_an_http_route_is_a_server_error() -> None:
    app = Carafe()

    @app.get("/oops")
    async def oops(ws: WebSocket) -> None: ...

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/oops").status_code == 500


def test_mounted_asgi_app_gets_websockets_under_its_prefix() -> None:
    async def raw(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": scope["root_path"]})
        await send({"type": "websocket.close", "code": 1000})

    app = Carafe()
    app.mount("/raw", raw)
    with TestClient(app) as client, client.websocket_connect("/raw/socket") as ws:
        assert ws.receive_text() == "/raw"


# --- Cross-site handshakes -------------------------------------------------------------


def origin_app(**options: Any) -> tuple[Carafe, list[str]]:
    app = Carafe(**options)
    seen: list[str] = []

    @app.websocket("/live")
    async def live(ws: WebSocket, sid: Annotated[str | None, Cookie()] = None) -> None:
        seen.append(str(sid))
        await ws.accept()
        await ws.send_text(f"hello {sid}")

    return app, seen


def connect(client: TestClient, origin: str | None, *, cookie: bool = True) -> int:
    """The handshake's outcome: 101 when accepted, else the refusal's status."""
    client.cookies.clear()
    if cookie:
        client.cookies.set("sid", "victim")
    headers = {} if origin is None else {"Origin": origin}
    try:
        with client.websocket_connect("/live", headers=headers) as ws:
            assert ws.receive_text() == ("hello victim" if cookie else "hello None")
    except WebSocketDenied as denied:
        assert denied.response.headers["content-type"] == "application/problem+json"
        assert "another site" in denied.response.json()["detail"]
        return denied.response.status_code
    return 101


def test_a_cross_site_handshake_with_cookies_is_refused_before_the_handler() -> None:
    app, seen = origin_app()
    with TestClient(app) as client:
        assert connect(client, "https://evil.example") == 403
        assert seen == []  # the handler never ran with the victim's cookie
        assert connect(client, "http://testserver") == 101


@pytest.mark.parametrize(
    "origin",
    [
        "null",
        "http://testserver.evil.net",
        "http://eviltestserver",
        "http://evil.net/http://testserver",
        "http://testserver@evil.net",
        "https://testserver",  # another scheme is another origin
        "http://testserver:8080",  # and so is another port
        "file://",
        "http://[::1",
        "http://testserver:99999",
        "http://",
        "http://" + "a" * 3000,
    ],
)
def test_look_alike_origins_are_refused(origin: str) -> None:
    with TestClient(origin_app()[0]) as client:
        assert connect(client, origin) == 403


def test_token_auth_and_non_browser_clients_pass() -> None:
    with TestClient(origin_app()[0]) as client:
        assert connect(client, "https://evil.example", cookie=False) == 101
        assert connect(client, None) == 101


def test_own_origin_follows_the_host_scheme_and_port() -> None:
    app = origin_app()[0]
    with TestClient(app, base_url="https://example.com:8443") as client:
        assert connect(client, "https://example.com:8443") == 101
        assert connect(client, "https://EXAMPLE.com:8443/") == 101
        assert connect(client, "https://example.com") == 403
    with TestClient(app, base_url="https://example.com") as client:
        assert connect(client, "https://example.com:443") == 101
        assert connect(client, "http://example.com") == 403


def test_listed_origins_pass() -> None:
    app = origin_app(websocket_origins=["https://app.example", "https://*.example.com"])[0]
    with TestClient(app) as client:
        assert connect(client, "https://app.example") == 101
        assert connect(client, "https://admin.example.com") == 101
        assert connect(client, "https://example.com") == 403  # not a subdomain of itself
        assert connect(client, "https://evilexample.com") == 403
        assert connect(client, "http://admin.example.com") == 403
    with TestClient(origin_app(websocket_origins=["*"])[0]) as client:
        assert connect(client, "https://evil.example") == 101


def test_a_cross_site_refusal_closes_1008_without_the_http_response_extension() -> None:
    with TestClient(origin_app()[0]) as client:
        client.cookies.set("sid", "victim")
        ws = client.websocket_connect("/live", headers={"Origin": "https://evil.example"})
        ws.session.scope["extensions"] = {}
        with pytest.raises(WebSocketDisconnect) as closed, ws:
            pass
    assert closed.value.code == 1008


@pytest.mark.parametrize(
    ("server", "accepted"),
    [(("testserver", 80), True), (("::1", 80), False), (None, False), (("h", None), False)],
)
def test_without_a_host_header_the_server_address_is_the_own_origin(
    server: Any, accepted: bool
) -> None:
    with TestClient(origin_app()[0]) as client:
        client.cookies.set("sid", "victim")
        ws = client.websocket_connect("/live", headers={"Origin": "http://testserver"})
        scope = ws.session.scope
        scope["headers"] = [pair for pair in scope["headers"] if pair[0] != b"host"]
        scope["server"] = server
        if accepted:
            with ws:
                assert ws.receive_text() == "hello victim"
        else:
            with pytest.raises(WebSocketDenied), ws:
                pass


@pytest.mark.parametrize(
    "setting", [["example.com"], ["https://example.com/path"], ["ftp://x"], "https://a.example"]
)
def test_malformed_websocket_origins_are_a_configuration_error(setting: Any) -> None:
    with pytest.raises(ConfigurationError, match="websocket_origins"):
        Carafe(websocket_origins=setting)


# --- Messages ---------------------------------------------------------------------------


def test_echo_and_yield_dependency_closes_when_the_client_leaves(
    app_events: tuple[Carafe, list[str]], client: TestClient
) -> None:
    _, events = app_events
    with client.websocket_connect("/echo") as ws:
        ws.send_text("hi")
        assert ws.receive_text() == "db:hi"
        ws.send_text("again")
        assert ws.receive_text() == "db:again"
    # Leaving the block disconnects; the handler ends quietly, cleanup runs once.
    assert events == ["open", "handler ended", "closed"]


def test_receive_json_validates_and_the_handler_can_answer(client: TestClient) -> None:
    with client.websocket_connect("/chat") as ws:
        ws.send_json({"text": "hello", "to": ["bob"]})
        assert ws.receive_json() == {"text": "hello", "to": ["bob"]}
        ws.send_json({"text": 5})
        errors = ws.receive_json()["errors"]
        assert errors[0]["loc"] == ["message", "text"]
        assert errors[0]["type"] == "type_error"
        ws.send_text("{not json")
        assert ws.receive_json()["errors"][0]["type"] == "json_invalid"
        ws.send_json({"text": "binary frames carry JSON too"}, binary=True)
        assert ws.receive_json() == {"text": "binary frames carry JSON too", "to": []}


def test_uncaught_validation_error_closes_1007(client: TestClient) -> None:
    with client.websocket_connect("/strict") as ws:
        ws.send_json({"to": []})
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1007
    assert closed.value.reason == "Invalid message at message.text: Field required"


def test_binary_where_text_is_expected_closes_1003(client: TestClient) -> None:
    with client.websocket_connect("/text") as ws:
        ws.send_bytes(b"\x00\x01")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert (closed.value.code, closed.value.reason) == (1003, "Expected a text message, got binary")
    with client.websocket_connect("/binary") as ws:
        ws.send_text("text")
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_bytes()
    assert closed.value.code == 1003


def test_binary_messages_and_binary_json(client: TestClient) -> None:
    with client.websocket_connect("/binary") as ws:
        ws.send_bytes(b"abc")
        assert ws.receive_bytes() == b"cba"
        assert ws.receive_json() == {"n": 3}


def test_message_over_the_limit_closes_1009(client: TestClient) -> None:
    with client.websocket_connect("/small") as ws:
        ws.send_text("12345678")
        assert ws.receive_text() == "12345678"
        ws.send_text("é" * 5)  # 5 characters, 10 bytes
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
    assert closed.value.code == 1009
    assert closed.value.reason == "Message of 10 bytes is over the limit of 8"


def test_test_session_reports_the_wrong_kind_of_message(client: TestClient) -> None:
    with client.websocket_connect("/binary") as ws:
        ws.send_bytes(b"ab")
        with pytest.raises(AssertionError, match="Expected a text message, got binary"):
            ws.receive_text()
    with client.websocket_connect("/chat") as ws:
        ws.send_json({"text": "hi"})
        with pytest.raises(AssertionError, match="Expected a bytes message, got text"):
            ws.receive_bytes()


# --- How a handler ends -----------------------------------------------------------------


def make_ending_app(caplog: pytest.LogCaptureFixture) -> Carafe:
    app = Carafe()

    @app.websocket("/boom")
    async def boom(ws: WebSocket) -> None:
        await ws.accept()
        await ws.receive_text()
        raise RuntimeError("secret internals")

    @app.websocket("/boom-early")
    async def boom_early(ws: WebSocket) -> None:
        raise RuntimeError("before accept")

    @app.websocket("/forbidden")
    async def forbidden(ws: WebSocket) -> None:
        await ws.accept()
        raise HTTPError(403, "You may not post here. " + "x" * 200)

    @app.websocket("/refuse")
    async def refuse(ws: WebSocket) -> None:
        pass  # never accepts

    @app.websocket("/bye")
    async def bye(ws: WebSocket) -> None:
        await ws.accept()
        await ws.close(4000, "done")
        with pytest.raises(WebSocketDisconnect):
            await ws.send_text("too late")
        with pytest.raises(WebSocketDisconnect):
            await ws.receive_text()
        await ws.close()  # twice is harmless

    return app


def test_unhandled_error_closes_1011_without_details_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = make_ending_app(caplog)
    with TestClient(app, raise_server_exceptions=False) as client:
        with caplog.at_level(logging.ERROR, logger="carafe"):
            with client.websocket_connect("/boom") as ws:
                ws.send_text("go")
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
        assert (closed.value.code, closed.value.reason) == (1011, "Internal error")
        assert "Unhandled error in websocket /boom" in caplog.text
        assert "secret internals" in caplog.text  # in the log, never to the client
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/boom-early"):
            pass
        assert denied.value.response.status_code == 500
        assert "before accept" not in denied.value.response.text


def test_unhandled_error_is_raised_in_the_test_by_default(caplog: pytest.LogCaptureFixture) -> None:
    app = make_ending_app(caplog)
    with TestClient(app) as client:
        ws = client.websocket_connect("/boom")
        with pytest.raises(RuntimeError, match="secret internals"), ws:
            ws.send_text("go")
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()


def test_http_error_after_accept_closes_1008_with_a_short_reason(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with TestClient(make_ending_app(caplog)) as client:
        with client.websocket_connect("/forbidden") as ws, pytest.raises(WebSocketDisconnect) as c:
            ws.receive_text()
    assert c.value.code == 1008
    assert c.value.reason.startswith("You may not post here.")
    assert len(c.value.reason.encode()) <= 123


def test_handler_that_never_accepts_refuses_and_explicit_close(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with TestClient(make_ending_app(caplog)) as client:
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/refuse"):
            pass
        assert refused.value.code == 1000
        with client.websocket_connect("/bye") as ws:
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
            assert (ws.close_code, ws.close_reason) == (4000, "done")
            with pytest.raises(WebSocketDisconnect):
                ws.receive_text()  # stays closed
    assert (closed.value.code, closed.value.reason) == (4000, "done")


def test_misuse_of_the_websocket_is_reported() -> None:
    app = Carafe()
    seen: list[str] = []

    @app.websocket("/misuse")
    async def misuse(ws: WebSocket) -> None:
        for call in (ws.receive_text(), ws.send_text("x")):
            try:
                await call
            except RuntimeError as exc:
                seen.append(str(exc))
        await ws.accept()
        for again in (ws.accept(), ws.deny(HTTPError(400))):
            try:
                await again
            except RuntimeError as exc:
                seen.append(str(exc))
        assert repr(ws) == "<WebSocket /misuse connected>"

    with TestClient(app) as client, client.websocket_connect("/misuse"):
        pass
    assert seen == [
        "Call accept() before receiving",
        "Call accept() before sending",
        "accept() was already called, or the websocket is closed",
        "deny() is only possible before accept()",
    ]


def test_client_gone_before_accept_and_handler_deny() -> None:
    app = Carafe()
    seen: list[int] = []

    @app.websocket("/late")
    async def late(ws: WebSocket) -> None:
        await asyncio.sleep(0)
        try:
            await ws.accept()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    @app.websocket("/deny")
    async def deny(ws: WebSocket) -> None:
        await ws.deny(HTTPError(429, "Slow down."))

    async def scenario() -> None:
        sent: list[dict[str, Any]] = []
        messages = iter([{"type": "websocket.disconnect", "code": 1001}])

        async def receive() -> dict[str, Any]:
            return next(messages)

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "websocket", "path": "/late", "headers": [], "query_string": b""}
        await app(scope, receive, send)
        assert sent == []  # nothing to say to a client that is gone

    asyncio.run(scenario())
    assert seen == [1001]
    with TestClient(app) as client:
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/deny"):
            pass
        assert denied.value.response.status_code == 429


def test_close_reason_is_cut_to_123_bytes() -> None:
    assert _reason("short") == "short"
    cut = _reason("é" * 100)
    assert len(cut.encode()) <= 123
    assert cut.endswith("...")


@pytest.mark.anyio
async def test_async_test_client_drives_websockets() -> None:
    app, events = make_app()
    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/echo") as ws:
            await ws.send_text("hi")
            assert await ws.receive_text() == "db:hi"
            await ws.close()
            await ws.close()  # idempotent
        assert events[-1] == "closed"
        async with client.websocket_connect("/chat") as ws:
            await ws.send_json({"text": "x"})
            message = await ws.receive()
            assert msgspec.json.decode(message["text"]) == {"text": "x", "to": []}


@pytest.mark.anyio
async def test_receive_times_out_instead_of_hanging() -> None:
    app, _ = make_app()
    async with AsyncTestClient(app) as client:
        async with client.websocket_connect("/echo", timeout=0.05) as ws:
            with pytest.raises(TimeoutError):
                await ws.receive_text()


def test_iterators_end_when_the_client_leaves() -> None:
    app = Carafe()
    seen: list[Any] = []

    @app.websocket("/bytes")
    async def all_bytes(ws: WebSocket) -> None:
        await ws.accept()
        seen.extend([data async for data in ws.iter_bytes()])

    @app.websocket("/json")
    async def all_json(ws: WebSocket) -> None:
        await ws.accept()
        seen.extend([chat.text async for chat in ws.iter_json(Chat)])

    with TestClient(app) as client:
        with client.websocket_connect("/bytes") as ws:
            ws.send_bytes(b"a")
            ws.send_bytes(b"b")
        with client.websocket_connect("/json") as ws:
            ws.send_json({"text": "c"})
    assert seen == [b"a", b"b", "c"]


def test_yield_dependency_sees_the_error_and_may_replace_it() -> None:
    app = Carafe()
    seen: list[str] = []

    async def translating() -> AsyncIterator[None]:
        try:
            yield
        except KeyError as exc:
            seen.append(f"caught {exc}")
            raise HTTPError(404, "No such room.") from None

    async def swallowing() -> AsyncIterator[None]:
        try:
            yield
        except ValueError:
            seen.append("swallowed")

    @app.websocket("/translate")
    async def translate(ws: WebSocket, _: None = Depends(translating)) -> None:
        await ws.accept()
        raise KeyError("room")

    @app.websocket("/swallow")
    async def swallow(ws: WebSocket, _: None = Depends(swallowing)) -> None:
        await ws.accept()
        raise ValueError("ignored")

    with TestClient(app) as client:
        with client.websocket_connect("/translate") as ws, pytest.raises(WebSocketDisconnect) as c:
            ws.receive_text()
        assert (c.value.code, c.value.reason) == (1008, "No such room.")
        with client.websocket_connect("/swallow") as ws, pytest.raises(WebSocketDisconnect) as c:
            ws.receive_text()
        assert c.value.code == 1000
    assert seen == ["caught 'room'", "swallowed"]


def test_send_to_a_client_that_is_gone_ends_the_handler() -> None:
    app = Carafe()
    seen: list[int] = []

    @app.websocket("/gone")
    async def gone(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.send_text("anyone?")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)
            raise

    async def scenario() -> None:
        async def receive() -> dict[str, Any]:
            return {"type": "websocket.connect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                raise OSError("connection lost")  # what uvicorn raises: ClientDisconnected

        scope = {"type": "websocket", "path": "/gone", "headers": [], "query_string": b""}
        await app(scope, receive, send)

    asyncio.run(scenario())
    assert seen == [1006]


def test_a_handler_that_only_sends_learns_that_the_client_left() -> None:
    app = Carafe()
    seen: list[Any] = []

    @app.websocket("/ticks")
    async def ticks(ws: WebSocket) -> None:
        await ws.accept()
        sent = 0
        try:
            while True:  # never receives; the test client's send never waits
                await ws.send_text(str(sent))
                sent += 1
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    with TestClient(app) as client, client.websocket_connect("/ticks") as ws:
        assert [ws.receive_text() for _ in range(3)] == ["0", "1", "2"]
        ws.close(1001)  # waits for the handler to end
    assert seen == [1001]


def test_a_message_that_arrives_while_the_handler_sends_waits_for_its_receive() -> None:
    app = Carafe()

    @app.websocket("/greet")
    async def greet(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("hello")
        await ws.send_text("your name?")  # a second send in a row: a receive waits
        await asyncio.sleep(0)
        await ws.send_text("...")  # the client's answer is in, and stays unread
        name = await ws.receive_text()
        await ws.send_text(f"hi {name}")
        await ws.send_text("bye")  # the handler returns with a receive still waiting

    with TestClient(app) as client, client.websocket_connect("/greet") as ws:
        assert ws.receive_text() == "hello"
        ws.send_text("ann")
        assert [ws.receive_text() for _ in range(4)] == ["your name?", "...", "hi ann", "bye"]
        with pytest.raises(WebSocketDisconnect) as closed:
            ws.receive_text()
        assert closed.value.code == 1000


def raw_session(app: Carafe, path: str, script: list[Any]) -> list[dict[str, Any]]:
    """Run one websocket connection against ``app`` with ``receive`` playing ``script``
    (messages, or exceptions to raise); what the app sent."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(0)
        item = script.pop(0) if script else {"type": "websocket.disconnect", "code": 1006}
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[no-any-return]

    async def send(message: dict[str, Any]) -> None:
        await asyncio.sleep(0)
        sent.append(message)

    scope = {"type": "websocket", "path": path, "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    return sent


def test_a_disconnect_without_a_status_is_answered_with_1002() -> None:
    """granian reports a protocol violation as a disconnect with 1005, and closes only
    when the app does: the client gets 1002 instead of a close without a status."""
    app = Carafe()
    seen: list[int] = []

    @app.websocket("/echo")
    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            await ws.receive_text()
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    connect = {"type": "websocket.connect"}
    sent = raw_session(app, "/echo", [connect, {"type": "websocket.disconnect", "code": 1005}])
    assert seen == [1005]
    assert sent[-1] == {"type": "websocket.close", "code": 1002, "reason": ""}
    sent = raw_session(app, "/echo", [connect, {"type": "websocket.disconnect", "code": 1001}])
    assert [message["type"] for message in sent] == ["websocket.accept"]  # nothing to add


def test_messages_taken_by_the_background_receive_are_not_lost() -> None:
    app = Carafe()
    heard: list[str] = []

    @app.websocket("/talk")
    async def talk(ws: WebSocket) -> None:
        await ws.accept()
        await ws.send_text("a")
        await ws.send_text("b")  # a second send in a row: a receive waits behind it
        await asyncio.sleep(0.01)  # and takes the client's first message
        await ws.send_text("c")
        heard.append(await ws.receive_text())
        await ws.send_text("d")
        await ws.send_text("e")
        await asyncio.sleep(0.01)  # the client's second message, which stays unread

    connect = {"type": "websocket.connect"}
    said = [{"type": "websocket.receive", "text": text} for text in ("hi", "unread")]
    sent = raw_session(app, "/talk", [connect, *said])
    assert heard == ["hi"]
    assert [message.get("text") for message in sent[1:-1]] == ["a", "b", "c", "d", "e"]
    assert sent[-1] == {"type": "websocket.close", "code": 1000, "reason": ""}


def test_sends_from_another_task_while_the_handler_receives() -> None:
    app = Carafe()

    @app.websocket("/room")
    async def room(ws: WebSocket) -> None:
        await ws.accept()

        async def push() -> None:
            for n in range(3):
                await ws.send_text(f"news {n}")

        pusher = asyncio.ensure_future(push())
        assert await ws.receive_text() == "thanks"  # in flight while the pusher sends
        await pusher

    with TestClient(app) as client, client.websocket_connect("/room") as ws:
        assert [ws.receive_text() for _ in range(3)] == ["news 0", "news 1", "news 2"]
        ws.send_text("thanks")
        with pytest.raises(WebSocketDisconnect):
            ws.receive_text()


def test_a_failing_receive_behind_the_sends_ends_the_handler() -> None:
    app = Carafe()
    seen: list[int] = []

    @app.websocket("/ticks")
    async def ticks(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                await ws.send_text("tick")
        except WebSocketDisconnect as exc:
            seen.append(exc.code)

    raw_session(app, "/ticks", [{"type": "websocket.connect"}, OSError("connection lost")])
    assert seen == [1006]


def test_test_session_with_apps_that_break_the_protocol() -> None:
    async def chatty(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "websocket.send", "text": "no handshake"})

    async def leaves(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "websocket.accept"})

    async def stuck(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return  # no lifespan
        await send({"type": "websocket.accept"})
        await asyncio.sleep(30)

    app = Carafe()
    app.mount("/chatty", chatty)
    app.mount("/leaves", leaves)
    app.mount("/stuck", stuck)
    with TestClient(app) as client:
        with pytest.raises(RuntimeError, match=r"handshake with 'websocket\.send'"):
            with client.websocket_connect("/chatty"):
                pass
        with client.websocket_connect("/leaves") as ws, pytest.raises(WebSocketDisconnect) as c:
            ws.receive_text()
        assert c.value.code == 1006
        ws = client.websocket_connect("/stuck", timeout=0.1)
        with pytest.raises(TimeoutError, match="did not end"), ws:
            pass
        with pytest.raises(ZeroDivisionError), client.websocket_connect("/stuck", timeout=0.1):
            1 / 0  # noqa: B018  (the test's own error wins over the app's timeout)


def test_test_session_raw_messages_explicit_close_and_a_denial_in_parts() -> None:
    async def denies(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await send({"type": "websocket.http.response.start", "status": 403, "headers": []})
        await send({"type": "websocket.http.response.body", "body": b"go ", "more_body": True})
        await send({"type": "websocket.http.response.body", "body": b"away"})

    app, _ = make_app()
    app.mount("/denies", denies)
    with TestClient(app) as client:
        with client.websocket_connect("/echo") as ws:
            ws.send_text("raw")
            assert ws.receive() == {"type": "websocket.send", "text": "db:raw"}
            ws.close(1001)
        with pytest.raises(WebSocketDenied) as denied, client.websocket_connect("/denies"):
            pass
    assert (denied.value.response.status_code, denied.value.response.text) == (403, "go away")
