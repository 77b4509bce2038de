"""Dependency injection: Depends on handlers, routers and the app; caching; yield cleanup
order; app-scoped dependencies; overrides; streaming lifetimes."""

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest

from carafe import (
    Carafe,
    ConfigurationError,
    Depends,
    Header,
    HTTPError,
    JSONResponse,
    Request,
    Response,
    Router,
    StreamingResponse,
)
from carafe.di import AppScope, Dependency
from carafe.testing import AsyncTestClient, TestClient

# --- Sub-dependencies and caching ----------------------------------------------------


def test_nested_dependencies_receive_request_values() -> None:
    app = Carafe()

    def settings() -> dict[str, str]:
        return {"prefix": "user:"}

    async def current_user(
        token: Annotated[str, Header(alias="X-Token")],
        config: Annotated[dict[str, str], Depends(settings)],
    ) -> str:
        if token != "secret":
            raise HTTPError(401, "Bad token")
        return config["prefix"] + "ann"

    @app.get("/me/{section}")
    async def me(section: str, user: Annotated[str, Depends(current_user)]) -> dict[str, str]:
        return {"user": user, "section": section}

    with TestClient(app) as client:
        assert client.get("/me/home", headers={"X-Token": "secret"}).json() == {
            "user": "user:ann",
            "section": "home",
        }
        denied = client.get("/me/home", headers={"X-Token": "nope"})
        assert denied.status_code == 401
        assert denied.json()["detail"] == "Bad token"
        missing = client.get("/me/home")
        assert missing.status_code == 422
        assert missing.json()["errors"] == [
            {"loc": ["header", "x-token"], "msg": "Field required", "type": "missing"}
        ]


def test_validation_errors_of_handler_and_dependencies_are_reported_together() -> None:
    app = Carafe()

    def paging(limit: int = 10, offset: int = 0) -> tuple[int, int]:
        return limit, offset

    @app.get("/items")
    def items(page: Annotated[tuple[int, int], Depends(paging)], q: int) -> dict[str, Any]:
        return {"page": list(page), "q": q}

    with TestClient(app) as client:
        assert client.get("/items?q=1&limit=5").json() == {"page": [5, 0], "q": 1}
        response = client.get("/items?limit=x&q=y")
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["query", "limit"], ["query", "q"]]


def test_a_dependency_runs_once_per_request_unless_use_cache_is_false() -> None:
    app = Carafe()
    calls: list[str] = []

    def counted() -> int:
        calls.append("counted")
        return len(calls)

    def first(value: Annotated[int, Depends(counted)]) -> int:
        return value

    def second(value: int = Depends(counted)) -> int:
        return value

    def fresh(value: Annotated[int, Depends(counted, use_cache=False)]) -> int:
        return value

    @app.get("/")
    def handler(
        a: Annotated[int, Depends(first)],
        b: Annotated[int, Depends(second)],
        c: Annotated[int, Depends(fresh)],
    ) -> list[int]:
        return [a, b, c]

    with TestClient(app) as client:
        assert client.get("/").json() == [1, 1, 2]
        assert client.get("/").json() == [3, 3, 4]


def test_depends_without_argument_calls_the_annotation() -> None:
    app = Carafe()

    class Pager:
        def __init__(self, page: int = 1) -> None:
            self.page = page

    @app.get("/")
    async def handler(pager: Annotated[Pager, Depends()]) -> dict[str, int]:
        return {"page": pager.page}

    with TestClient(app) as client:
        assert client.get("/?page=3").json() == {"page": 3}


def test_callable_instance_as_dependency() -> None:
    app = Carafe()

    class Checker:
        def __init__(self, role: str) -> None:
            self.role = role

        async def __call__(self, request: Request) -> str:
            return f"{self.role}:{request.method}"

    admin = Checker("admin")

    @app.get("/")
    async def handler(who: Annotated[str, Depends(admin)]) -> str:
        return who

    with TestClient(app) as client:
        assert client.get("/").text == "admin:GET"


def test_app_router_and_route_dependencies_run_in_order_before_the_handler() -> None:
    order: list[str] = []

    def mark(label: str) -> Any:
        def dependency() -> None:
            order.append(label)

        dependency.__qualname__ = label
        return dependency

    app = Carafe(dependencies=[Depends(mark("app"))])
    router = Router(prefix="/api", dependencies=[Depends(mark("router"))])

    @router.get("/x", dependencies=[Depends(mark("route"))])
    async def handler() -> str:
        order.append("handler")
        return "ok"

    app.include(router)
    with TestClient(app) as client:
        assert client.get("/api/x").text == "ok"
    assert order == ["app", "router", "route", "handler"]


def test_route_dependency_can_reject_the_request() -> None:
    app = Carafe()

    def require_key(api_key: Annotated[str | None, Header()] = None) -> None:
        if api_key != "k":
            raise HTTPError(403, "A valid Api-Key header is required")

    @app.get("/", dependencies=[Depends(require_key)])
    async def handler() -> str:
        return "in"

    with TestClient(app) as client:
        assert client.get("/", headers={"api-key": "k"}).text == "in"
        refused = client.get("/")
        assert refused.status_code == 403
        assert refused.headers["content-type"] == "application/problem+json"


def test_dependency_cycles_and_bad_route_dependencies_fail_at_startup() -> None:
    app = Carafe()

    def a(value: Annotated[int, Depends(lambda: 1)]) -> int:
        return value

    def loop_a(b: Any = None) -> int:
        return 1

    def loop_b(a: Annotated[int, Depends(loop_a)]) -> int:
        return a

    loop_a.__annotations__["b"] = Annotated[int, Depends(loop_b)]
    loop_a.__defaults__ = (Depends(loop_b),)

    @app.get("/")
    async def handler(x: Annotated[int, Depends(loop_a)]) -> int:
        return x

    with pytest.raises(ConfigurationError, match="Dependency cycle"):
        app.compile()

    other = Carafe()

    @other.get("/", dependencies=[Depends()])
    async def no_callable() -> None: ...

    with pytest.raises(ConfigurationError, match="needs a callable"):
        other.compile()


def test_a_generator_handler_is_refused_at_startup() -> None:
    app = Carafe()

    @app.get("/")
    async def handler() -> AsyncIterator[bytes]:
        yield b"x"

    with pytest.raises(ConfigurationError, match="StreamingResponse"):
        app.compile()


def test_bad_scope_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="'request', 'function' or 'app'"):
        Depends(lambda: 1, scope="session")  # type: ignore[call-overload]
    assert repr(Dependency(len, True)) == "Depends(len)"
    assert repr(Dependency(len, True, "app")) == "Depends(len, scope='app')"


# --- yield dependencies ----------------------------------------------------------------


def _tracked(log: list[str]) -> Carafe:
    """An app whose handler uses three nested yield dependencies (sync and async)."""
    app = Carafe()

    async def outer() -> AsyncIterator[str]:
        log.append("outer:enter")
        try:
            yield "outer"
        except Exception as exc:
            log.append(f"outer:saw {type(exc).__name__}")
            raise
        finally:
            log.append("outer:exit")

    def middle(o: Annotated[str, Depends(outer)]) -> Iterator[str]:
        log.append("middle:enter")
        try:
            yield o + ">middle"
        except Exception as exc:
            log.append(f"middle:saw {type(exc).__name__}")
            raise
        finally:
            log.append("middle:exit")

    async def inner(m: Annotated[str, Depends(middle)]) -> AsyncIterator[str]:
        log.append("inner:enter")
        yield m + ">inner"
        log.append("inner:exit")

    @app.get("/ok")
    async def ok(value: Annotated[str, Depends(inner)]) -> str:
        log.append("handler")
        return value

    @app.get("/fail")
    async def fail(value: Annotated[str, Depends(middle)]) -> str:
        log.append("handler")
        raise LookupError("gone")

    @app.get("/refuse")
    def refuse(value: Annotated[str, Depends(middle)]) -> str:
        raise HTTPError(409, "Conflict here")

    return app


def test_yield_cleanup_runs_in_reverse_order_after_the_response() -> None:
    log: list[str] = []
    with TestClient(_tracked(log)) as client:
        assert client.get("/ok").text == "outer>middle>inner"
    assert log == [
        "outer:enter",
        "middle:enter",
        "inner:enter",
        "handler",
        "inner:exit",
        "middle:exit",
        "outer:exit",
    ]


def test_yield_cleanup_sees_the_handlers_exception_exactly_once() -> None:
    log: list[str] = []
    with TestClient(_tracked(log), raise_server_exceptions=False) as client:
        response = client.get("/fail")
        assert response.status_code == 500
        assert "gone" not in response.text
    assert log == [
        "outer:enter",
        "middle:enter",
        "handler",
        "middle:saw LookupError",
        "middle:exit",
        "outer:saw LookupError",
        "outer:exit",
    ]
    log.clear()
    with TestClient(_tracked(log)) as client:
        response = client.get("/refuse")
    assert response.status_code == 409
    assert log.count("middle:saw HTTPError") == 1
    assert log.count("outer:exit") == 1


def test_yield_dependency_may_turn_an_error_into_an_http_error() -> None:
    app = Carafe()
    cleaned: list[str] = []

    async def transaction() -> AsyncIterator[str]:
        try:
            yield "tx"
        except KeyError as exc:
            cleaned.append("rollback")
            raise HTTPError(404, f"No such key: {exc.args[0]}") from exc

    @app.get("/{key}")
    async def handler(key: str, tx: Annotated[str, Depends(transaction)]) -> str:
        raise KeyError(key)

    with TestClient(app) as client:
        response = client.get("/abc")
    assert response.status_code == 404
    assert response.json()["detail"] == "No such key: abc"
    assert cleaned == ["rollback"]


def test_yield_dependency_errors_before_the_handler_close_what_was_opened() -> None:
    app = Carafe()
    log: list[str] = []

    async def opened() -> AsyncIterator[None]:
        log.append("open")
        try:
            yield
        finally:
            log.append("close")

    def broken(_: Annotated[None, Depends(opened)]) -> None:
        raise HTTPError(503, "Database is down")

    @app.get("/")
    async def handler(_: Annotated[None, Depends(broken)]) -> str:
        log.append("handler")
        return "unreachable"

    with TestClient(app) as client:
        assert client.get("/").status_code == 503
    assert log == ["open", "close"]


def test_streaming_response_keeps_yield_dependencies_open_until_the_last_chunk() -> None:
    app = Carafe()
    log: list[str] = []

    async def connection() -> AsyncIterator[list[str]]:
        log.append("connect")
        yield log
        log.append("disconnect")

    @app.get("/stream")
    async def stream(conn: Annotated[list[str], Depends(connection)]) -> StreamingResponse:
        async def rows() -> AsyncIterator[bytes]:
            for n in range(3):
                await asyncio.sleep(0)
                # The dependency is still open while each chunk is produced.
                conn.append(f"row {n}")
                yield f"row {n} open={'disconnect' not in conn}\n".encode()

        return StreamingResponse(rows(), media_type="text/plain")

    with TestClient(app) as client, client.stream("GET", "/stream") as response:
        chunks = [line for line in response.iter_lines() if line]
    assert chunks == ["row 0 open=True", "row 1 open=True", "row 2 open=True"]
    assert log == ["connect", "row 0", "row 1", "row 2", "disconnect"]


@pytest.mark.anyio
async def test_cancelled_request_still_cleans_up_yield_dependencies() -> None:
    app = Carafe()
    log: list[str] = []
    started = asyncio.Event()

    async def resource() -> AsyncIterator[None]:
        log.append("open")
        try:
            yield
        finally:
            log.append("close")

    @app.get("/slow")
    async def slow(_: Annotated[None, Depends(resource)]) -> str:
        started.set()
        await asyncio.sleep(60)
        return "late"

    app.compile()
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/slow",
        "query_string": b"",
        "headers": [],
        "root_path": "",
    }

    async def receive() -> dict[str, Any]:
        await asyncio.sleep(60)
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        raise AssertionError("nothing is sent for a cancelled request")

    task = asyncio.ensure_future(app(scope, receive, send))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log == ["open", "close"]


# --- App-scoped dependencies -------------------------------------------------------------


def test_app_scoped_dependency_is_created_once_and_closed_at_shutdown() -> None:
    app = Carafe()
    log: list[str] = []

    def settings() -> dict[str, str]:
        log.append("settings")
        return {"dsn": "memory://"}

    async def pool(
        config: Annotated[dict[str, str], Depends(settings, scope="app")],
        size: int = 4,
    ) -> AsyncIterator[dict[str, Any]]:
        log.append("pool:open")
        yield {"dsn": config["dsn"], "size": size, "served": 0}
        log.append("pool:close")

    def cache() -> Iterator[str]:
        log.append("cache:open")
        yield "cache"
        log.append("cache:close")

    def session(db: Annotated[dict[str, Any], Depends(pool, scope="app")]) -> dict[str, Any]:
        db["served"] += 1
        return db

    @app.get("/", dependencies=[Depends(cache, scope="app")])
    async def handler(db: Annotated[dict[str, Any], Depends(session)]) -> dict[str, Any]:
        return db

    with TestClient(app) as client:
        # Created at startup, before any request, sub-dependencies first.
        assert log == ["cache:open", "settings", "pool:open"]
        assert client.get("/").json() == {"dsn": "memory://", "size": 4, "served": 1}
        assert client.get("/").json()["served"] == 2
        assert log.count("pool:open") == 1
    assert log == ["cache:open", "settings", "pool:open", "pool:close", "cache:close"]


def test_app_scoped_dependency_without_lifespan_is_created_on_first_request() -> None:
    app = Carafe()
    created: list[int] = []

    async def model() -> str:
        created.append(1)
        return "weights"

    @app.get("/")
    async def handler(m: Annotated[str, Depends(model, scope="app")]) -> str:
        return m

    client = TestClient(app)  # no `with`: no lifespan
    assert client.get("/").text == "weights"
    assert client.get("/").text == "weights"
    assert created == [1]
    client.close()


def test_app_scoped_dependency_cannot_take_request_values() -> None:
    for bad in ("query", "request", "request_dep"):
        app = Carafe()

        def per_request() -> int:
            return 1

        if bad == "query":

            def shared(q: str) -> str:
                return q

        elif bad == "request":

            def shared(request: Request) -> str:  # type: ignore[misc]
                return request.path

        else:

            def shared(n: Annotated[int, Depends(per_request)]) -> str:  # type: ignore[misc]
                return str(n)

        @app.get("/")
        async def handler(s: Annotated[str, Depends(shared, scope="app")]) -> str:
            return s

        with pytest.raises(ConfigurationError, match="only on other scope='app'"):
            app.compile()


def test_app_scoped_cycles_fail_at_startup() -> None:
    app = Carafe()

    def first(x: Any = None) -> int:
        return 1

    def second(x: Annotated[int, Depends(first, scope="app")]) -> int:
        return x

    first.__defaults__ = (Depends(second, scope="app"),)

    @app.get("/")
    async def handler(s: Annotated[int, Depends(first, scope="app")]) -> int:
        return s

    with pytest.raises(ConfigurationError, match="Dependency cycle"):
        app.compile()


def test_app_scope_outside_an_app_is_a_configuration_error() -> None:
    from carafe._core.build import build_plan

    async def handler(s: Annotated[int, Depends(lambda: 1, scope="app")]) -> int:
        return s

    with pytest.raises(ConfigurationError, match="outside an app"):
        build_plan(handler, ())


def test_app_scope_is_recreated_when_the_app_starts_again() -> None:
    app = Carafe()
    opened: list[int] = []

    async def resource() -> AsyncIterator[int]:
        opened.append(len(opened) + 1)
        yield len(opened)

    @app.get("/")
    async def handler(r: Annotated[int, Depends(resource, scope="app")]) -> int:
        return r

    with TestClient(app) as client:
        assert client.get("/").json() == 1
    with TestClient(app) as client:
        assert client.get("/").json() == 2


@pytest.mark.anyio
async def test_app_scope_start_is_idempotent_under_concurrent_first_requests() -> None:
    scope = AppScope()
    created: list[int] = []

    async def slow() -> int:
        await asyncio.sleep(0.01)
        created.append(1)
        return 7

    scope.register(slow, slow, "async", ())
    assert scope.pending
    await asyncio.gather(scope.start(), scope.start())
    assert created == [1]
    assert not scope.pending
    assert scope.getter(slow)(None) == 7
    await scope.close()
    assert scope.pending


@pytest.mark.anyio
async def test_app_scope_with_async_client() -> None:
    app = Carafe()
    thread_names: list[str] = []

    def blocking() -> Iterator[str]:
        thread_names.append(threading.current_thread().name)
        yield "sync-resource"

    @app.get("/")
    async def handler(r: Annotated[str, Depends(blocking, scope="app")]) -> str:
        return r

    async with AsyncTestClient(app) as client:
        assert (await client.get("/")).text == "sync-resource"
    assert thread_names and thread_names[0] != threading.main_thread().name


# --- Overrides ----------------------------------------------------------------------------


def test_dependency_overrides_swap_dependencies_everywhere_and_can_be_undone() -> None:
    app = Carafe()

    def real_user() -> str:
        return "real"

    def audit(user: Annotated[str, Depends(real_user)]) -> None:
        seen.append(user)

    seen: list[str] = []

    @app.get("/", dependencies=[Depends(audit)])
    async def handler(user: Annotated[str, Depends(real_user)]) -> str:
        return user

    with TestClient(app) as client:
        assert client.get("/").text == "real"
        app.dependency_overrides[real_user] = lambda: "fake"
        assert client.get("/").text == "fake"
        del app.dependency_overrides[real_user]
        assert client.get("/").text == "real"
        app.dependency_overrides.update({real_user: lambda: "updated"})
        assert client.get("/").text == "updated"
        app.dependency_overrides.pop(real_user)
        assert client.get("/").text == "real"
        app.dependency_overrides[real_user] = lambda: "again"
        app.dependency_overrides.clear()
        assert client.get("/").text == "real"
        app.dependency_overrides.setdefault(real_user, lambda: "default")
        assert client.get("/").text == "default"
        app.dependency_overrides.popitem()
        assert client.get("/").text == "real"
        app.dependency_overrides |= {real_user: lambda: "merged"}
        assert client.get("/").text == "merged"
        app.dependency_overrides = {}  # the FastAPI way to reset
        assert client.get("/").text == "real"
        app.dependency_overrides = {real_user: lambda: "assigned"}
        assert client.get("/").text == "assigned"
    assert seen == [
        *["real", "fake", "real", "updated", "real", "real"],
        *["default", "real", "merged", "real", "assigned"],
    ]


def test_overriding_an_app_scoped_dependency_after_startup() -> None:
    app = Carafe()
    log: list[str] = []

    async def real_db() -> AsyncIterator[str]:
        log.append("real:open")
        yield "real-db"
        log.append("real:close")

    async def test_db() -> AsyncIterator[str]:
        log.append("test:open")
        yield "test-db"
        log.append("test:close")

    @app.get("/")
    async def handler(db: Annotated[str, Depends(real_db, scope="app")]) -> str:
        return db

    with TestClient(app) as client:
        assert client.get("/").text == "real-db"
        app.dependency_overrides[real_db] = test_db
        assert client.get("/").text == "test-db"
    assert log == ["real:open", "test:open", "test:close", "real:close"]
    log.clear()
    with TestClient(app) as client:  # started again: only the override is created
        assert client.get("/").text == "test-db"
    assert log == ["test:open", "test:close"]


def test_an_override_may_take_other_parameters() -> None:
    app = Carafe()

    def user() -> str:
        return "real"

    @app.get("/")
    async def handler(u: Annotated[str, Depends(user)]) -> str:
        return u

    def as_header(x_user: Annotated[str, Header()]) -> str:
        return x_user

    app.dependency_overrides[user] = as_header
    with TestClient(app) as client:
        assert client.get("/", headers={"X-User": "bob"}).text == "bob"
        assert client.get("/").status_code == 422


async def no_yield_async() -> AsyncIterator[int]:
    if False:
        yield 1


def no_yield_sync() -> Iterator[int]:
    if False:
        yield 1


async def twice_async() -> AsyncIterator[int]:
    yield 1
    yield 2


def twice_sync() -> Iterator[int]:
    yield 1
    yield 2


async def again_async() -> AsyncIterator[int]:
    try:
        yield 1
    except LookupError:
        yield 2


def again_sync() -> Iterator[int]:
    try:
        yield 1
    except LookupError:
        yield 2


def _using(dependency: Any, fail: bool) -> Any:
    async def handler(value: Annotated[int, Depends(dependency)]) -> int:
        if fail:
            raise LookupError("boom")
        return value

    return handler


def test_misbehaving_yield_dependencies_are_reported_as_server_errors() -> None:
    app = Carafe()

    for name, dependency in [
        ("no_yield_async", no_yield_async),
        ("no_yield_sync", no_yield_sync),
        ("twice_async", twice_async),
        ("twice_sync", twice_sync),
        ("again_async", again_async),
        ("again_sync", again_sync),
    ]:
        app.add_route(f"/{name}", _using(dependency, fail=name.startswith("again")), name=name)

    for path, message in [
        ("/no_yield_async", "did not yield"),
        ("/no_yield_sync", "did not yield"),
        ("/twice_async", "yielded more than once"),
        ("/twice_sync", "yielded more than once"),
        ("/again_async", "yielded again after an error"),
        ("/again_sync", "yielded again after an error"),
    ]:
        with TestClient(app) as client, pytest.raises(RuntimeError, match=message):
            client.get(path)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/again_sync")
        assert response.status_code == 500
        assert "yielded" not in response.text


def test_a_yield_dependency_may_swallow_the_error() -> None:
    app = Carafe()
    seen: list[str] = []

    def forgiving() -> Iterator[None]:
        try:
            yield
        except HTTPError as exc:
            seen.append(f"swallowed {exc.status_code}")

    async def forgiving_async() -> AsyncIterator[None]:
        try:
            yield
        except HTTPError as exc:
            seen.append(f"async swallowed {exc.status_code}")

    @app.get("/")
    async def handler(
        a: Annotated[None, Depends(forgiving)], b: Annotated[None, Depends(forgiving_async)]
    ) -> None:
        raise HTTPError(418, "Teapot")

    with TestClient(app) as client:
        # The handler's error is still answered: the response is about the request.
        assert client.get("/").status_code == 418
    assert seen == ["async swallowed 418"]


def test_sync_yield_dependencies_may_swallow_or_convert_the_error() -> None:
    app = Carafe()
    seen: list[str] = []

    def forgiving() -> Iterator[None]:
        try:
            yield
        except LookupError:
            seen.append("swallowed")

    def converting() -> Iterator[None]:
        try:
            yield
        except KeyError as exc:
            raise HTTPError(404, "Not here") from exc

    @app.get("/swallow")
    def swallow(_: Annotated[None, Depends(forgiving)]) -> None:
        raise LookupError("lost")

    @app.get("/convert")
    def convert(_: Annotated[None, Depends(converting)]) -> None:
        raise KeyError("k")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/swallow").status_code == 500
        response = client.get("/convert")
    assert seen == ["swallowed"]
    assert response.status_code == 404
    assert response.json()["detail"] == "Not here"


def test_a_client_leaving_mid_stream_still_closes_the_dependency() -> None:
    app = Carafe()
    log: list[str] = []
    closed = threading.Event()

    async def connection() -> AsyncIterator[None]:
        log.append("connect")
        try:
            yield
        finally:
            log.append("disconnect")
            closed.set()

    @app.get("/forever")
    async def forever(_: Annotated[None, Depends(connection)]) -> StreamingResponse:
        async def ticks() -> AsyncIterator[bytes]:
            n = 0
            while True:
                n += 1
                yield f"tick {n}\n".encode()
                await asyncio.sleep(0.001)

        return StreamingResponse(ticks(), media_type="text/plain")

    with TestClient(app) as client:
        with client.stream("GET", "/forever") as response:
            first = next(response.iter_lines())
            assert log == ["connect"]  # open while the stream runs
        assert first == "tick 1"
        assert closed.wait(5)
    assert log == ["connect", "disconnect"]


def test_server_sent_events_keep_yield_dependencies_open_until_the_stream_ends() -> None:
    from carafe import EventSourceResponse, ServerSentEvent

    app = Carafe()
    log: list[str] = []

    async def feed() -> AsyncIterator[list[str]]:
        log.append("subscribe")
        try:
            yield log
        finally:
            log.append("unsubscribe")

    @app.get("/events")
    async def events(subscription: Annotated[list[str], Depends(feed)]) -> EventSourceResponse:
        async def stream() -> AsyncIterator[ServerSentEvent]:
            for n in range(3):
                await asyncio.sleep(0)
                yield ServerSentEvent({"n": n, "open": "unsubscribe" not in subscription})

        return EventSourceResponse(stream())

    with TestClient(app) as client, client.stream("GET", "/events") as response:
        data = [line for line in response.iter_lines() if line.startswith("data:")]
    assert data == [
        'data: {"n":0,"open":true}',
        'data: {"n":1,"open":true}',
        'data: {"n":2,"open":true}',
    ]
    assert log == ["subscribe", "unsubscribe"]


def test_a_stream_that_breaks_off_throws_its_error_into_the_dependency() -> None:
    app = Carafe()
    log: list[str] = []

    async def connection() -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            log.append(f"saw {exc}")
            raise
        finally:
            log.append("closed")

    @app.get("/stream")
    async def stream(_: Annotated[None, Depends(connection)]) -> StreamingResponse:
        async def rows() -> AsyncIterator[bytes]:
            yield b"row 1\n"
            raise OSError("disk gone")

        return StreamingResponse(rows(), media_type="text/plain")

    with TestClient(app) as client, pytest.raises(OSError, match="disk gone"):
        client.get("/stream")
    assert log == ["saw disk gone", "closed"]


def test_per_request_dependency_objects_are_slotted() -> None:
    from carafe._concurrency import ThreadPool
    from carafe._core.unwind import AsyncGenExit, Exits, GenExit

    def gen() -> Iterator[int]:
        yield 1

    for exit_callback in (AsyncGenExit(gen()), GenExit(gen(), ThreadPool(1)), Exits()):
        assert not hasattr(exit_callback, "__dict__")


def test_a_failing_app_scoped_dependency_fails_startup_and_closes_the_others() -> None:
    app = Carafe()
    log: list[str] = []

    async def cache() -> AsyncIterator[str]:
        log.append("cache:open")
        yield "cache"
        log.append("cache:close")

    def database(c: Annotated[str, Depends(cache, scope="app")]) -> str:
        raise ConnectionError("no database at db:5432")

    @app.get("/")
    async def handler(db: Annotated[str, Depends(database, scope="app")]) -> str:
        return db

    with pytest.raises(Exception, match="no database"), TestClient(app):
        pass
    assert log == ["cache:open", "cache:close"]


def test_without_lifespan_a_failing_app_scoped_dependency_is_a_500_then_retried() -> None:
    app = Carafe()
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("db:5432 refused the connection")
        return "connected"

    @app.get("/")
    async def handler(db: Annotated[str, Depends(flaky, scope="app")]) -> str:
        return db

    client = TestClient(app, raise_server_exceptions=False)  # no `with`: no lifespan
    response = client.get("/")
    assert response.status_code == 500
    assert "5432" not in response.text
    assert client.get("/").text == "connected"
    assert client.get("/").text == "connected"
    assert len(attempts) == 2
    client.close()


def test_websocket_routes_use_app_scoped_dependencies() -> None:
    from carafe import WebSocket

    app = Carafe()
    attempts: list[int] = []

    async def flaky() -> str:
        attempts.append(1)
        if len(attempts) == 1:
            raise ConnectionError("refused")
        return "connected"

    @app.websocket("/ws")
    async def ws(websocket: WebSocket, db: Annotated[str, Depends(flaky, scope="app")]) -> None:
        await websocket.accept()
        await websocket.send_text(db)
        await websocket.close()

    client = TestClient(app)  # no lifespan: created by the first connection
    with pytest.raises(ConnectionError), client.websocket_connect("/ws"):
        pass
    with client.websocket_connect("/ws") as session:
        assert session.receive_text() == "connected"
    client.close()


def test_function_scoped_yield_commits_before_the_response(tmp_path: Any) -> None:
    """A write answered to the client is visible to its very next request."""
    import sqlite3

    database = tmp_path / "shop.db"
    with sqlite3.connect(database) as setup:
        setup.execute("create table items (name text unique)")
    order: list[str] = []

    def transaction() -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(database, check_same_thread=False)
        try:
            yield conn
            conn.commit()
            order.append("committed")
        except Exception:
            conn.rollback()
            order.append("rolled back")
            raise
        finally:
            conn.close()

    Tx = Annotated[sqlite3.Connection, Depends(transaction, scope="function")]
    app = Carafe(docs=None)

    @app.post("/items/{name}", status_code=201)
    def add(name: str, tx: Tx) -> dict[str, str]:
        tx.execute("insert into items values (?)", (name,))
        order.append("handler returned")
        return {"name": name}

    @app.get("/items")
    def names(tx: Tx) -> list[str]:
        return [row[0] for row in tx.execute("select name from items order by name")]

    @app.exception_handler(sqlite3.IntegrityError)
    def conflict(request: Request, exc: sqlite3.IntegrityError) -> Response:
        return JSONResponse({"detail": "That item exists."}, 409)

    with TestClient(app) as client:
        for name in ("pen", "ink", "nib"):
            assert client.post(f"/items/{name}").status_code == 201
            assert name in client.get("/items").json()  # at once: committed before the 201
        assert client.post("/items/pen").status_code == 409  # the failure is the response
        assert client.get("/items").json() == ["ink", "nib", "pen"]
    assert order[:2] == ["handler returned", "committed"]
    assert order.count("rolled back") == 1


def test_a_failed_commit_in_a_function_scoped_dependency_is_the_response() -> None:
    events: list[str] = []

    async def unit_of_work() -> AsyncIterator[str]:
        yield "work"
        events.append("commit")
        raise HTTPError(503, "The database is unavailable; nothing was saved.")

    async def audit() -> AsyncIterator[None]:
        try:
            yield
        finally:
            events.append("audit closed")  # sees the failed commit too

    app = Carafe(docs=None)

    @app.post("/save")
    async def save(
        work: Annotated[str, Depends(unit_of_work, scope="function")],
        _: Annotated[None, Depends(audit)],
    ) -> dict[str, str]:
        events.append("handler")
        return {"saved": work}

    with TestClient(app) as client:
        response = client.post("/save")
    assert response.status_code == 503
    assert "nothing was saved" in response.json()["detail"]
    assert events == ["handler", "commit", "audit closed"]
