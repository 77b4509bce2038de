"""The extension interface: what a feature adds goes through the app's own registry."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec
import pytest

from carafe import BackgroundTasks, Carafe, Depends, Limits, Request, Response, Session
from carafe.context import RequestContext, Slot, context_of
from carafe.extensions import ParameterSite, Registry
from carafe.routing.dispatch import CompiledRoute
from carafe.testing import TestClient
from carafe.types import ASGIApp, Receive, Scope, Send


class Quota:
    """A value a feature provides by annotation."""

    def __init__(self, left: int) -> None:
        self.left = left


_CHARGED: Slot[Quota] = Slot("quota")


class Quotas:
    """An extension: ``Quota`` parameters, charged once a response below 400 is sent."""

    def __init__(self) -> None:
        self.charged: list[int] = []
        self.cleaned = 0

    def install(self, registry: Registry) -> None:
        registry.provide(Quota, self.load, after_response=self.charge, cleans_up=True)
        registry.openapi(self.document)

    async def load(self, request: Request) -> Quota:
        quota = Quota(int(request.headers.get("x-quota", "3")))
        context = context_of(request.scope)
        context.set(_CHARGED, quota)
        context.on_cleanup(self.clean)
        return quota

    async def clean(self) -> None:
        self.cleaned += 1

    def charge(self, app: Carafe, context: RequestContext) -> None:
        quota = context.get(_CHARGED)
        assert quota is not None
        self.charged.append(quota.left)

    def document(
        self, operation: dict[str, Any], route: CompiledRoute, doc: dict[str, Any]
    ) -> None:
        if any(p.type is Quota for p in route.plan.providers):
            operation["x-quota"] = True


def test_an_extension_provides_a_value_runs_after_the_response_and_cleans_up() -> None:
    quotas = Quotas()
    app = Carafe(extensions=[quotas])

    @app.get("/work")
    async def work(quota: Quota) -> dict[str, int]:
        return {"left": quota.left}

    @app.get("/fail")
    async def fail(quota: Quota) -> dict[str, int]:
        raise ValueError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/work", headers={"x-quota": "7"}).json() == {"left": 7}
        assert client.get("/fail").status_code == 500
        document = client.get("/openapi.json").json()
    assert quotas.charged == [7]  # not charged for the failed request
    assert quotas.cleaned == 2  # cleaned up either way
    assert document["paths"]["/work"]["get"]["x-quota"] is True


def test_two_apps_in_one_process_share_no_setting() -> None:
    quotas = Quotas()
    first = Carafe(thread_pool_size=1, extensions=[quotas], limits=Limits(max_body_size=10))
    second = Carafe(thread_pool_size=4)
    threads: dict[str, set[int]] = {"first": set(), "second": set()}
    barrier = threading.Barrier(2, timeout=5)

    for name, app in (("first", first), ("second", second)):

        def work(body: dict[str, int], name: str = name) -> dict[str, int]:
            threads[name].add(threading.get_ident())
            return body

        app.post("/work")(work)

        def meet() -> str:
            barrier.wait()  # two requests at once only fit a pool of two threads or more
            return "met"

        app.get("/meet")(meet)

    @first.get("/quota")
    async def quota(q: Quota) -> int:
        return q.left

    second.get("/quota")(quota)  # no provider there: a query parameter like any other

    with TestClient(first) as one, TestClient(second) as two:
        assert one.post("/work", json={"a": 1}).status_code == 200
        assert one.post("/work", json={"a": 123456}).status_code == 413  # 12 bytes > 10
        assert two.post("/work", json={"a": 123456}).status_code == 200
        assert one.get("/quota").json() == 3
        assert two.get("/quota").json()["errors"][0]["loc"] == ["query", "q"]
        assert first.threads is not second.threads
        assert (first.threads.size, second.threads.size) == (1, 4)
        results: list[str] = []
        pair = [threading.Thread(target=lambda: results.append(two.get("/meet").text))]
        pair.append(threading.Thread(target=lambda: results.append(two.get("/meet").text)))
        for thread in pair:
            thread.start()
        for thread in pair:
            thread.join(10)
        assert results == ["met", "met"]
    assert threads["first"].isdisjoint(threads["second"])


def test_importing_a_feature_registers_nothing() -> None:
    """A bare registry fills nothing by annotation: the features are the app's, not the
    process's."""
    from carafe._core.build import build_plan

    async def handler(session: Session, tasks: BackgroundTasks) -> None: ...

    default = build_plan(handler, ())
    assert {p.type for p in default.providers} == {Session, BackgroundTasks}
    bare = build_plan(handler, (), registry=Registry())
    assert bare.providers == ()
    assert {p.source for p in bare.params} == {"query"}


def test_a_provider_can_build_one_extractor_per_parameter() -> None:
    seen: list[ParameterSite] = []

    class Names:
        def install(self, registry: Registry) -> None:
            def per_parameter(site: ParameterSite) -> Any:
                seen.append(site)
                return lambda request: site.name

            registry.provide(Named, per_parameter=per_parameter)

    app = Carafe()
    app.extend(Names())

    @app.get("/")
    def index(alpha: Named, beta: Named) -> list[Any]:
        return [alpha, beta]

    with TestClient(app) as client:
        assert client.get("/").json() == ["alpha", "beta"]
        assert client.get("/").json() == ["alpha", "beta"]
    assert [site.name for site in seen] == ["alpha", "beta"]  # built once, at startup


def test_middleware_sees_the_matched_route_before_the_handler() -> None:
    seen: list[tuple[str | None, str | None]] = []

    class RouteNamer:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                route = context_of(scope).route
                seen.append((route.path, route.name) if route else (None, None))
            await self.app(scope, receive, send)

    app = Carafe(docs=None)
    app.add_middleware(RouteNamer)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> int:
        return item_id

    with TestClient(app) as client:
        assert client.get("/items/42").json() == 42
        assert client.get("/nowhere").status_code == 404
        assert client.post("/items/42").status_code == 405
    assert seen == [("/items/{item_id}", "read_item"), (None, None), (None, None)]


class Named:
    """Filled with the parameter's own name."""


class Point(msgspec.Struct):
    x: int


RETURNS: list[tuple[str, Any, int, str | None, bytes]] = [
    ("dict", {"a": 1}, 200, "application/json", b'{"a":1}'),
    ("list", [1, 2], 200, "application/json", b"[1,2]"),
    ("struct", Point(1), 200, "application/json", b'{"x":1}'),
    ("str", "hi", 200, "text/plain; charset=utf-8", b"hi"),
    ("bytes", b"\x00hi", 200, "application/octet-stream", b"\x00hi"),
    ("bytearray", bytearray(b"\x00hi"), 200, "application/octet-stream", b"\x00hi"),
    ("memoryview", memoryview(b"\x00hi"), 200, "application/octet-stream", b"\x00hi"),
    ("none", None, 200, "application/json", b"null"),
    ("int", 3, 200, "application/json", b"3"),
]


@pytest.mark.parametrize("hooks", [False, True], ids=["fast path", "with hooks"])
@pytest.mark.parametrize(
    ("kind", "value", "status", "media", "body"), RETURNS, ids=[r[0] for r in RETURNS]
)
def test_one_rule_from_return_value_to_response(
    hooks: bool, kind: str, value: Any, status: int, media: str | None, body: bytes
) -> None:
    app = Carafe(docs=None)
    if hooks:

        @app.after_request
        def keep(request: Request, response: Any) -> Any:
            return response

    @app.get("/")
    def index() -> Any:
        return value

    @app.delete("/", status_code=204)
    def remove() -> None:
        return None

    with TestClient(app) as client:
        response = client.get("/")
        assert (response.status_code, response.headers.get("content-type")) == (status, media)
        assert response.content == body
        assert response.headers["content-length"] == str(len(body))
        gone = client.delete("/")
        assert (gone.status_code, gone.content, gone.headers.get("content-type")) == (
            204,
            b"",
            None,
        )


def test_registry_bookkeeping_and_mistakes() -> None:
    registry = Registry()
    quotas = Quotas()
    registry.install(quotas)
    registry.install(quotas)  # once per extension object
    assert registry.extensions == (quotas,)
    with pytest.raises(TypeError, match="one of a factory, per_parameter= or dependency="):
        registry.provide(Quota)
    registry.provide(Quota, lambda request: Quota(1))  # a later registration wins
    assert len([p for p in registry.providers if p.type is Quota]) == 1
    assert registry.provider_for(list[int]) is None  # not a class: nothing to match


def test_the_context_keeps_typed_values_and_says_where_it_is() -> None:
    context = RequestContext()
    assert context.get(_CHARGED) is None and context.pop(_CHARGED) is None
    quota = Quota(2)
    context.set(_CHARGED, quota)
    assert context.get(_CHARGED) is quota and context.pop(_CHARGED) is quota
    assert repr(context) == "<RequestContext route=None>" and repr(_CHARGED) == "Slot('quota')"


EVENTS: list[str] = []


async def unit() -> AsyncIterator[str]:
    yield "u"
    EVENTS.append("committed")


def test_a_function_scoped_dependency_finishes_before_after_request_hooks() -> None:
    events = EVENTS
    events.clear()
    app = Carafe(docs=None)

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        events.append("after_request")

    @app.post("/")
    async def write(u: Annotated[str, Depends(unit, scope="function")]) -> str:
        return u

    with TestClient(app) as client:
        assert client.post("/").text == "u"
    assert events == ["committed", "after_request"]


def test_a_mounted_app_gets_a_context_of_its_own_with_the_body_already_read() -> None:
    inner = Carafe(docs=None)

    @inner.post("/echo")
    async def echo(request: Request) -> dict[str, Any]:
        route = request.context.route
        return {"body": (await request.body()).decode(), "route": route and route.path}

    class ReadFirst:
        def __init__(self, app: ASGIApp) -> None:
            self.app = app

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                await Request(scope, receive).body()  # the body is gone from receive now
            await self.app(scope, receive, send)

    outer = Carafe(docs=None)
    outer.add_middleware(ReadFirst)
    outer.mount("/inner", inner)
    with TestClient(outer) as client:
        assert client.post("/inner/echo", content=b"hi").json() == {"body": "hi", "route": None}


def test_an_extension_opens_a_resource_with_the_app_and_closes_it_after() -> None:
    events: list[str] = []

    class Pool:
        def install(self, registry: Registry) -> None:
            registry.lifespan(self.opened)

        @contextlib.asynccontextmanager
        async def opened(self, app: Carafe) -> AsyncIterator[None]:
            events.append("open")
            yield
            events.append("close")

    app = Carafe(extensions=[Pool()])
    app.on_startup(lambda: events.append("startup hook"))
    app.on_shutdown(lambda: events.append("shutdown hook"))

    @app.get("/")
    def index() -> list[str]:
        return events

    with TestClient(app) as client:
        assert client.get("/").json() == ["open", "startup hook"]
    assert events == ["open", "startup hook", "shutdown hook", "close"]


class Unit:
    """A unit of work a feature opens around each handler that asks for one."""

    def __init__(self, user: str | None) -> None:
        self.user = user
        self.writes: list[str] = []


class Units:
    def __init__(self) -> None:
        self.committed: list[list[str]] = []
        self.rolled_back = 0

    def install(self, registry: Registry) -> None:
        registry.provide(Unit, dependency=self.open, scope="function")

    async def open(self, request: Request) -> AsyncIterator[Unit]:
        unit = Unit(request.headers.get("x-user"))
        try:
            yield unit
        except Exception:
            self.rolled_back += 1
            raise
        self.committed.append(unit.writes)


def same_unit(unit: Unit) -> Unit:
    return unit


def test_a_provider_backed_by_a_dependency_wraps_the_handler() -> None:
    units = Units()
    app = Carafe(docs=None, extensions=[units])

    @app.post("/{word}")
    async def write(word: str, unit: Unit, same: Annotated[Unit, Depends(same_unit)]) -> str:
        assert same is unit  # one per request, however many parameters ask
        if word == "boom":
            raise ValueError(word)
        unit.writes.append(word)
        return f"{unit.user}:{word}"

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/tea", headers={"x-user": "ann"}).text == "ann:tea"
        assert client.post("/boom").status_code == 500
    assert units.committed == [["tea"]] and units.rolled_back == 1
