"""The application: lifespan, errors and exception handlers, debug mode, state."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carafe import Carafe, HTTPError, Request, Response
from carafe.exceptions import RequestValidationError
from carafe.lifespan import LifespanError
from carafe.responses import JSONResponse, PlainTextResponse
from carafe.testing import AsyncTestClient, TestClient


def test_lifespan_hooks_and_context_manager_run_in_order() -> None:
    events: list[str] = []

    @contextlib.asynccontextmanager
    async def lifespan(app: Carafe) -> AsyncIterator[dict[str, Any]]:
        events.append("lifespan enter")
        yield {"db": "connected"}
        events.append("lifespan exit")

    app = Carafe(lifespan=lifespan)

    @app.on_startup
    async def start() -> None:
        events.append("startup async")

    @app.on_startup
    def start_sync() -> None:
        events.append("startup sync")

    @app.on_shutdown
    def stop() -> None:
        events.append("shutdown")

    @app.get("/db")
    async def db(request: Request) -> dict[str, Any]:
        return {"db": request.state.db, "app_state": request.app.state.db}

    with TestClient(app) as client:
        assert events == ["startup async", "startup sync", "lifespan enter"]
        assert client.get("/db").json() == {"db": "connected", "app_state": "connected"}
    assert events[-2:] == ["lifespan exit", "shutdown"]


def test_failing_startup_is_reported() -> None:
    app = Carafe()

    @app.on_startup
    async def explode() -> None:
        raise RuntimeError("no database")

    with pytest.raises(LifespanError, match="no database"), TestClient(app):
        pass


def test_failing_shutdown_is_reported() -> None:
    app = Carafe()

    @app.on_shutdown
    async def explode() -> None:
        raise RuntimeError("cannot close")

    client = TestClient(app)
    with pytest.raises(LifespanError, match="cannot close"), client:
        pass


@pytest.mark.anyio
async def test_async_client_runs_lifespan() -> None:
    started: list[bool] = []
    app = Carafe()

    @app.on_startup
    async def start() -> None:
        started.append(True)

    @app.get("/")
    async def index() -> dict[str, bool]:
        return {"started": bool(started)}

    async with AsyncTestClient(app) as client:
        response = await client.get("/")
    assert response.json() == {"started": True}


def test_http_error_with_headers() -> None:
    app = Carafe()

    @app.get("/secret")
    async def secret() -> None:
        raise HTTPError(401, "Log in first", headers={"WWW-Authenticate": "Bearer"})

    @app.get("/teapot")
    async def teapot() -> None:
        raise HTTPError(418)

    @app.get("/odd")
    async def odd() -> None:
        raise HTTPError(599)

    client = TestClient(app)
    response = client.get("/secret")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {
        "type": "about:blank",
        "title": "Unauthorized",
        "status": 401,
        "detail": "Log in first",
    }
    assert client.get("/teapot").json()["title"] == "I'm a Teapot"
    assert client.get("/odd").json()["title"] == "Error"
    assert repr(HTTPError(404, "x")) == "HTTPError(404, 'x')"


def test_unhandled_error_is_a_bare_500_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    app = Carafe()

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("database password is hunter2")

    client = TestClient(app, raise_server_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="carafe"):
        response = client.get("/boom")
    assert response.status_code == 500
    assert response.json() == {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server failed to answer this request.",
    }
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert "Unhandled error in GET /boom" in caplog.text
    assert "hunter2" in caplog.text  # the operator sees it in the log
    assert client.get("/boom").status_code == 500  # and the server goes on


def test_server_exceptions_reach_the_test_by_default() -> None:
    app = Carafe()

    @app.get("/boom")
    def boom() -> None:
        raise KeyError("missing")

    with pytest.raises(KeyError, match="missing"):
        TestClient(app).get("/boom")


def test_debug_shows_traceback_to_loopback_only() -> None:
    app = Carafe(debug=True)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("visible in debug")

    local = TestClient(app, raise_server_exceptions=False, base_url="http://localhost")
    body = local.get("/boom").json()
    assert body["detail"] == "ValueError: visible in debug"
    assert any("visible in debug" in line for line in body["traceback"])
    app.debug = False
    body = TestClient(app, raise_server_exceptions=False).get("/boom").json()
    assert "traceback" not in body


def test_exception_handlers_by_class_and_status() -> None:
    class OutOfStock(Exception):
        pass

    class Discontinued(OutOfStock):
        pass

    app = Carafe()

    @app.exception_handler(OutOfStock)
    async def out_of_stock(request: Request, exc: OutOfStock) -> Response:
        return JSONResponse({"error": "out of stock", "path": request.path}, status_code=409)

    @app.exception_handler(404)
    def not_found(request: Request, exc: HTTPError) -> Response:
        return PlainTextResponse(f"no page {request.path}", status_code=404)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return JSONResponse({"count": len(exc.errors)}, status_code=400)

    @app.get("/buy")
    async def buy() -> None:
        raise Discontinued()

    @app.get("/n/{n}")
    async def number(n: int) -> int:
        return n

    client = TestClient(app)
    response = client.get("/buy")
    assert response.status_code == 409
    assert response.json() == {"error": "out of stock", "path": "/buy"}
    assert client.get("/missing").text == "no page /missing"
    assert client.get("/n/x").json() == {"count": 1}


def test_failing_exception_handler_falls_back() -> None:
    app = Carafe()

    @app.exception_handler(ValueError)
    async def broken(request: Request, exc: ValueError) -> Response:
        raise RuntimeError("handler broke")

    @app.exception_handler(KeyError)
    async def to_http(request: Request, exc: KeyError) -> Response:
        raise HTTPError(404, "converted")

    @app.get("/v")
    async def v() -> None:
        raise ValueError()

    @app.get("/k")
    async def k() -> None:
        raise KeyError()

    client = TestClient(app, raise_server_exceptions=False)
    assert client.get("/v").status_code == 500
    converted = client.get("/k")
    assert converted.status_code == 404
    assert converted.json()["detail"] == "converted"


def test_before_and_after_request_hooks() -> None:
    app = Carafe()
    seen: list[str] = []

    @app.before_request
    async def guard(request: Request) -> Response | None:
        seen.append(request.path)
        if request.headers.get("x-block"):
            return PlainTextResponse("blocked", status_code=403)
        return None

    @app.after_request
    def stamp(request: Request, response: Response) -> Response:
        response.headers["x-served-by"] = "carafe"
        return response

    @app.get("/")
    async def index() -> dict[str, int]:
        return {"ok": 1}

    client = TestClient(app)
    response = client.get("/")
    assert response.json() == {"ok": 1}
    assert response.headers["x-served-by"] == "carafe"
    blocked = client.get("/", headers={"x-block": "1"})
    assert blocked.status_code == 403
    assert blocked.text == "blocked"
    assert blocked.headers["x-served-by"] == "carafe"
    assert seen == ["/", "/"]


def test_app_without_hooks_or_middleware_calls_the_dispatcher_directly() -> None:
    app = Carafe()

    @app.get("/")
    async def index() -> str:
        return "x"

    with TestClient(app) as client:
        client.get("/")
        assert app._entry == app._dispatch


def test_thread_pool_size_and_settings() -> None:
    from carafe import _concurrency

    app = Carafe(thread_pool_size=3, title="T", version="2", description="d")
    assert (app.title, app.version, app.description) == ("T", "2", "d")

    @app.get("/")
    def index() -> str:
        return "sync"

    assert TestClient(app).get("/").text == "sync"
    assert app.threads.size == 3
    with pytest.raises(ValueError, match="at least one thread"):
        _concurrency.ThreadPool(0)


def test_dependency_override_rebuilds_the_plan() -> None:
    from carafe import Depends

    def real() -> str:
        return "real"

    def fake() -> str:
        return "fake"

    app = Carafe()

    @app.get("/")
    async def index(value: str = Depends(real)) -> str:
        return value

    client = TestClient(app)
    assert client.get("/").text == "real"
    app.dependency_overrides[real] = fake
    assert client.get("/").text == "fake"
    del app.dependency_overrides[real]
    assert client.get("/").text == "real"
    app.dependency_overrides[real] = fake
    app.dependency_overrides.pop(real)
    assert client.get("/").text == "real"
    app.dependency_overrides[real] = fake
    app.dependency_overrides.clear()
    assert client.get("/").text == "real"


def test_websocket_scope_without_routes_is_closed() -> None:
    import asyncio

    app = Carafe()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "websocket.connect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "websocket", "path": "/ws", "headers": [], "query_string": b""}
    asyncio.run(app(scope, receive, send))
    assert sent[0]["type"] == "websocket.close"


def test_run_uses_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append({"app": app, **kw}))
    app = Carafe()
    app.run(port=9999)
    assert calls == [{"app": app, "host": "127.0.0.1", "port": 9999, "access_log": False}]
