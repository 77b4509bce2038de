"""Mounting ASGI and WSGI apps: prefixes, their lifespans, nesting, and ``root_path``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from examples import mounting

from carafe import Carafe, ConfigurationError, RedirectResponse, Request
from carafe.lifespan import LifespanError
from carafe.testing import TestClient
from carafe.types import Message, Receive, Scope, Send


@pytest.fixture
def client() -> Iterator[TestClient]:
    mounting.starlette_events.clear()
    mounting.admin_events.clear()
    with TestClient(mounting.app, follow_redirects=False) as client:
        yield client


# --- A Flask app ----------------------------------------------------------------------


def test_flask_app_answers_under_its_prefix(client: TestClient) -> None:
    assert client.get("/legacy/").json() == {
        "app": "flask",
        "self": "/legacy/",
        "form": "/legacy/form",
    }


def test_flask_form_post(client: TestClient) -> None:
    page = client.get("/legacy/form")
    assert page.status_code == 200
    assert "<form" in page.text
    response = client.post("/legacy/form", data={"name": "Ann", "tag": ["a", "b"]})
    assert response.json() == {"name": "Ann", "tags": ["a", "b"]}


def test_flask_redirect_keeps_the_prefix(client: TestClient) -> None:
    response = client.get("/legacy/old-home")
    assert response.status_code == 302
    assert response.headers["location"] == "/legacy/"
    assert client.get("/legacy/old-home", follow_redirects=True).json()["app"] == "flask"


def test_flask_unknown_path_is_flasks_404(client: TestClient) -> None:
    response = client.get("/legacy/nothing-here")
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]  # Flask's page, not ours


def test_route_under_a_mount_prefix_wins_over_the_mount(client: TestClient) -> None:
    assert client.get("/legacy/status").json() == {"served_by": "main"}
    # The prefix itself goes to the mount: Flask redirects it to its own root.
    response = client.get("/legacy")
    assert response.status_code == 308
    assert response.headers["location"] == "http://testserver/legacy/"


def test_mount_prefix_matches_whole_segments() -> None:
    app = Carafe()

    @app.get("/legacyx")
    def not_mounted() -> str:
        return "main"

    app.mount("/legacy", mounting.legacy)
    client = TestClient(app)
    assert client.get("/legacyx").text == "main"
    assert client.get("/legacyy").status_code == 404


def test_route_at_the_prefix_itself_wins() -> None:
    app = Carafe()

    @app.get("/legacy")
    def exact() -> str:
        return "main"

    app.mount("/legacy", mounting.legacy)
    client = TestClient(app)
    assert client.get("/legacy").text == "main"
    assert client.get("/legacy/").json()["app"] == "flask"


def test_flask_app_at_the_root_behind_new_routes() -> None:
    """Moving off Flask a route at a time: Carafe routes first, Flask for the rest."""
    app = Carafe()

    @app.get("/form")
    def new_form() -> dict[str, str]:
        return {"served_by": "carafe"}

    app.mount("/", mounting.legacy)
    client = TestClient(app, follow_redirects=False)
    assert client.get("/form").json() == {"served_by": "carafe"}
    assert client.get("/").json() == {"app": "flask", "self": "/", "form": "/form"}
    assert client.get("/old-home").headers["location"] == "/"
    assert client.get("/nowhere").status_code == 404  # Flask's 404 now


def test_mount_inside_an_included_router_takes_its_prefix() -> None:
    from carafe import Router

    v1 = Router(prefix="/v1")
    v1.mount("/legacy", mounting.legacy)
    app = Carafe()
    app.include(v1, prefix="/api")
    client = TestClient(app)
    assert client.get("/api/v1/legacy/").json()["form"] == "/api/v1/legacy/form"
    assert client.get("/v1/legacy/").status_code == 404


def test_wsgi_interface_can_be_forced() -> None:
    def wsgi(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [f"{environ['SCRIPT_NAME']}|{environ['PATH_INFO']}".encode()]

    app = Carafe()
    app.mount("/w", wsgi, interface="wsgi")
    assert TestClient(app).get("/w/a/b").text == "/w|/a/b"


def test_bad_mount_prefix_is_a_configuration_error() -> None:
    app = Carafe()
    for prefix in ("legacy", "/legacy/"):
        with pytest.raises(ConfigurationError, match="must start with '/'"):
            app.mount(prefix, mounting.legacy)


# --- Sub-apps with lifespans ----------------------------------------------------------


def test_starlette_sub_app_lifespan_and_state() -> None:
    mounting.starlette_events.clear()
    with TestClient(mounting.app) as client:
        assert mounting.starlette_events == ["startup"]
        assert client.get("/starlette/").json() == {
            "app": "starlette",
            "pool": "starlette-pool",
            "path": "/starlette/",
            "root_path": "/starlette",
        }
    assert mounting.starlette_events == ["startup", "shutdown"]


def test_carafe_sub_app_lifespan_state_and_urls() -> None:
    mounting.admin_events.clear()
    with TestClient(mounting.app) as client:
        assert mounting.admin_events == ["startup"]
        assert client.get("/admin/").json() == {
            "app": "admin",
            "greeting": "hello, admin",
            "self": "/admin/",
            "users": "/admin/users/7",
        }
        assert client.get("/admin/users/7").json() == {"user_id": 7}
        assert client.get("/admin/users/x").status_code == 422
        assert mounting.admin.state.greeting == "hello, admin"
    assert mounting.admin_events == ["startup", "shutdown"]


def test_parent_state_does_not_see_the_sub_apps() -> None:
    seen: dict[str, Any] = {}

    @contextlib.asynccontextmanager
    async def parent_lifespan(app: Carafe) -> AsyncIterator[dict[str, str]]:
        yield {"shared": "parent"}

    @contextlib.asynccontextmanager
    async def child_lifespan(app: Carafe) -> AsyncIterator[dict[str, str]]:
        yield {"own": "child"}

    parent = Carafe(lifespan=parent_lifespan)
    child = Carafe(lifespan=child_lifespan)

    @parent.get("/")
    def parent_view(request: Request) -> dict[str, Any]:
        return dict(request.scope["state"])

    @child.get("/")
    def child_view(request: Request) -> dict[str, Any]:
        seen.update(request.scope["state"])
        return {"shared": request.state.shared, "own": request.state.own}

    parent.mount("/child", child)
    with TestClient(parent) as client:
        assert client.get("/").json() == {"shared": "parent"}
        assert client.get("/child/").json() == {"shared": "parent", "own": "child"}
    assert seen == {"shared": "parent", "own": "child"}


def test_nested_mounts_with_lifespans() -> None:
    events: list[str] = []

    def lifespan_for(name: str) -> Any:
        @contextlib.asynccontextmanager
        async def lifespan(app: Carafe) -> AsyncIterator[None]:
            events.append(f"{name} up")
            yield
            events.append(f"{name} down")

        return lifespan

    outer = Carafe(lifespan=lifespan_for("outer"))
    middle = Carafe(lifespan=lifespan_for("middle"))
    inner = Carafe(lifespan=lifespan_for("inner"))

    @inner.get("/leaf/{name}")
    def leaf(name: str, request: Request) -> dict[str, str]:
        return {"name": name, "url": request.url_for("leaf", name=name)}

    @inner.get("/back")
    def back(request: Request) -> RedirectResponse:
        return RedirectResponse(request.url_for("leaf", name="home"))

    middle.mount("/inner", inner)
    outer.mount("/middle", middle)
    with TestClient(outer, root_path="/proxy") as client:
        assert client.get("/middle/inner/leaf/x").json() == {
            "name": "x",
            "url": "/proxy/middle/inner/leaf/x",
        }
        response = client.get("/middle/inner/back", follow_redirects=False)
        assert response.headers["location"] == "/proxy/middle/inner/leaf/home"
        assert client.get("/middle/inner/nothing").status_code == 404
    assert events == [
        "inner up",
        "middle up",
        "outer up",
        "outer down",
        "middle down",
        "inner down",
    ]


async def no_lifespan_app(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app that knows only HTTP, as many small ones do."""
    assert scope["type"] == "http", "only HTTP here"
    body = f"{scope['root_path']}|{scope['path']}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


async def returning_app(scope: Scope, receive: Receive, send: Send) -> None:
    """Ignores the lifespan by returning at once."""
    if scope["type"] == "http":
        await no_lifespan_app(scope, receive, send)


def test_sub_apps_without_lifespan_support_do_not_break_startup() -> None:
    events: list[str] = []
    app = Carafe()
    app.on_startup(lambda: events.append("started"))
    app.mount("/raises", no_lifespan_app)
    app.mount("/returns", returning_app)
    with TestClient(app) as client:
        assert events == ["started"]
        assert client.get("/raises/x").text == "/raises|/raises/x"
        assert client.get("/returns").text == "/returns|/returns"


def test_failing_sub_app_startup_fails_the_app_and_stops_the_others() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def fine(app: Carafe) -> AsyncIterator[None]:
        events.append("fine up")
        yield
        events.append("fine down")

    @contextlib.asynccontextmanager
    async def broken(app: Carafe) -> AsyncIterator[None]:
        raise RuntimeError("no database")
        yield  # pragma: no cover

    app = Carafe()
    app.on_shutdown(lambda: events.append("app shutdown hook"))
    app.mount("/a", Carafe(lifespan=fine))
    app.mount("/b", Carafe(lifespan=broken))
    with pytest.raises(LifespanError, match="no database"), TestClient(app):
        pass  # pragma: no cover
    # What had started was stopped; shutdown hooks of an app that never started don't run.
    assert events == ["fine up", "fine down"]


def test_shutdown_order_is_startup_reversed() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def child_lifespan(app: Carafe) -> AsyncIterator[None]:
        events.append("child up")
        yield
        events.append("child down")

    @contextlib.asynccontextmanager
    async def parent_lifespan(app: Carafe) -> AsyncIterator[None]:
        events.append("lifespan up")
        yield
        events.append("lifespan down")

    app = Carafe(lifespan=parent_lifespan)
    app.on_startup(lambda: events.append("startup hook"))
    app.on_shutdown(lambda: events.append("shutdown hook"))
    app.mount("/child", Carafe(lifespan=child_lifespan))
    with TestClient(app):
        pass
    assert events == [
        "child up",
        "startup hook",
        "lifespan up",
        "lifespan down",
        "shutdown hook",
        "child down",
    ]


def test_overrides_changed_while_running_keep_the_sub_app_state() -> None:
    app = Carafe()
    app.mount("/admin", mounting.admin)
    with TestClient(app) as client:
        app.dependency_overrides[object] = object  # forces a recompile
        assert client.get("/admin/").json()["greeting"] == "hello, admin"


# --- root_path ------------------------------------------------------------------------


def test_root_path_from_the_server() -> None:
    with TestClient(mounting.app, root_path="/proxy", follow_redirects=False) as client:
        body = client.get("/").json()
        assert body == {"app": "main", "self": "/proxy/", "flask": "/proxy/legacy/form"}
        redirect = client.get("/start")
        assert redirect.status_code == 303
        assert redirect.headers["location"] == "/proxy/"
        assert client.get("/legacy/").json()["form"] == "/proxy/legacy/form"
        assert client.get("/legacy/old-home").headers["location"] == "/proxy/legacy/"
        assert client.get("/admin/").json()["users"] == "/proxy/admin/users/7"
        assert client.get("/admin/home").headers["location"] == "/proxy/admin/"
        starlette = client.get("/starlette/").json()
        assert starlette["root_path"] == "/proxy/starlette"
        assert starlette["path"] == "/proxy/starlette/"


def test_trailing_slash_redirect_keeps_the_root_path() -> None:
    app = Carafe()

    @app.get("/items/")
    def items() -> list[int]:
        return [1]

    client = TestClient(app, root_path="/proxy", follow_redirects=False)
    response = client.get("/items?page=2")
    assert response.status_code == 307
    assert response.headers["location"] == "/proxy/items/?page=2"


@pytest.mark.slow
def test_root_path_under_a_real_uvicorn(live_server: Any) -> None:
    server = live_server("examples.mounting:app", "--root-path", "/proxy")
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as http:
        assert http.get("/").json()["self"] == "/proxy/"
        assert http.get("/start").headers["location"] == "/proxy/"
        assert http.get("/legacy/").json()["self"] == "/proxy/legacy/"
        assert http.get("/legacy/old-home").headers["location"] == "/proxy/legacy/"
        posted = http.post("/legacy/form", data={"name": "Bo"})
        assert posted.json() == {"name": "Bo", "tags": []}
        admin = http.get("/admin/").json()
        assert admin["greeting"] == "hello, admin"  # the sub-app's lifespan ran in uvicorn
        assert admin["users"] == "/proxy/admin/users/7"
        assert http.get("/starlette/").json()["pool"] == "starlette-pool"
        assert http.get("/admin/users/x").status_code == 422
        assert http.get("/").status_code == 200  # still serving after a 422


# --- Websockets -----------------------------------------------------------------------


def test_websocket_to_a_mounted_starlette_app_sees_its_lifespan_state() -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket as StarletteWebSocket

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, str]]:
        yield {"motd": "welcome"}

    async def chat(websocket: StarletteWebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_json(
            {"echo": text, "motd": websocket.state.motd, "root": websocket.scope["root_path"]}
        )
        await websocket.close()

    app = Carafe()
    app.mount("/chat", Starlette(routes=[WebSocketRoute("/ws", chat)], lifespan=lifespan))
    with TestClient(app) as client, client.websocket_connect("/chat/ws") as websocket:
        websocket.send_text("hi")
        assert websocket.receive_json() == {"echo": "hi", "motd": "welcome", "root": "/chat"}


# --- Middleware -----------------------------------------------------------------------


def test_the_apps_middleware_wraps_mounted_apps_too() -> None:
    from carafe.middleware import CORSMiddleware, GZipMiddleware

    app = Carafe()
    app.mount("/legacy", mounting.legacy)
    app.add_middleware(GZipMiddleware, minimum_size=10)
    app.add_middleware(CORSMiddleware, allow_origins=["https://a.example"])
    headers = {"origin": "https://a.example", "accept-encoding": "gzip"}
    response = TestClient(app).get("/legacy/form", headers=headers)
    assert "<form" in response.text
    assert response.headers["content-encoding"] == "gzip"
    assert response.headers["access-control-allow-origin"] == "https://a.example"


@pytest.mark.slow
def test_root_path_under_a_real_granian(live_server: Any) -> None:
    server = live_server("examples.mounting:app", "--server", "granian", "--root-path", "/proxy")
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=10) as http:
        # granian leaves the prefix out of ``path`` when the proxy stripped it.
        assert http.get("/").json()["self"] == "/proxy/"
        assert http.get("/start").headers["location"] == "/proxy/"
        assert http.get("/legacy/").json()["self"] == "/proxy/legacy/"
        assert http.get("/legacy/old-home").headers["location"] == "/proxy/legacy/"
        admin = http.get("/admin/").json()
        assert admin["greeting"] == "hello, admin"
        assert admin["users"] == "/proxy/admin/users/7"
        starlette = http.get("/starlette/").json()
        assert starlette["path"] == "/proxy/starlette/"
        # ... and keeps it in when the proxy passed it on: the same routes answer.
        assert http.get("/proxy/admin/users/7").json() == {"user_id": 7}


def test_a_server_that_leaves_root_path_out_of_path() -> None:
    """The app puts ``root_path`` into ``path`` (as ASGI says) before anyone sees it."""
    import asyncio

    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b""}

    async def send(message: Message) -> None:
        sent.append(message)

    def scope(path: str) -> dict[str, Any]:
        return {
            "type": "http",
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": path,
            "root_path": "/proxy",
            "query_string": b"",
            "headers": [(b"host", b"example.com")],
        }

    app = mounting.app
    app.compile()
    asyncio.run(app(scope("/"), receive, send))
    assert b'"self":"/proxy/"' in sent[1]["body"]
    asyncio.run(app(scope("/legacy/"), receive, send))
    assert b'"self":"/proxy/legacy/"' in b"".join(m.get("body", b"") for m in sent[2:])


# --- ASGI details ---------------------------------------------------------------------


def test_mounted_app_gets_its_own_scope_copy() -> None:
    scopes: list[dict[str, Any]] = []

    async def recorder(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        scopes.append(dict(scope))
        scope["mutated"] = True
        message: Message = {"type": "http.response.start", "status": 204, "headers": []}
        await send(message)
        await send({"type": "http.response.body", "body": b""})

    app = Carafe()
    app.mount("/rec", recorder)
    with TestClient(app) as client:
        assert client.get("/rec/deep/path?q=1").status_code == 204
    assert scopes[0]["root_path"] == "/rec"
    assert scopes[0]["path"] == "/rec/deep/path"
    assert scopes[0]["query_string"] == b"q=1"
    assert "mutated" not in scopes[0]
