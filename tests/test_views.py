"""Class-based views: HTTP methods of a class, with declarations shared by every method."""

import threading
from collections.abc import AsyncIterator
from typing import Annotated, Any, ClassVar

import msgspec
import pytest

from carafe import Carafe, ConfigurationError, Depends, Header, HTTPError, Query, Router
from carafe.routing.router import RouteOptions
from carafe.testing import TestClient


class Item(msgspec.Struct):
    name: str
    price: float


class Store:
    def __init__(self) -> None:
        self.items: dict[int, Item] = {1: Item("lamp", 20.0)}
        self.log: list[str] = []


STORE = Store()


async def get_store() -> AsyncIterator[Store]:
    STORE.log.append("open")
    yield STORE
    STORE.log.append("close")


def current_user(x_user: Annotated[str | None, Header()] = None) -> str:
    if x_user is None:
        raise HTTPError(401, "Who are you?")
    return x_user


def make_app() -> Carafe:
    app = Carafe()
    api = Router(prefix="/api", tags=["items"])

    @api.view("/items/{item_id}")
    class ItemView:
        """One item."""

        item_id: int
        store: Annotated[Store, Depends(get_store)]
        user: str = Depends(current_user)
        verbose: Annotated[bool, Query()] = False
        kind: ClassVar[str] = "item"
        note: str = "not a request value"
        method_options: ClassVar[dict[str, RouteOptions]] = {"delete": {"status_code": 204}}

        def found(self) -> Item:
            item = self.store.items.get(self.item_id)
            if item is None:
                raise HTTPError(404, f"No item {self.item_id}")
            return item

        async def get(self) -> dict[str, Any]:
            """Read one item.

            Returns the item and who asked.
            """
            item = self.found()
            out: dict[str, Any] = {"name": item.name, "by": self.user}
            if self.verbose:
                out["price"] = item.price
            return out

        def put(self, item: Item) -> Item:
            self.store.items[self.item_id] = item
            self.store.log.append(f"put in {threading.current_thread().name != 'MainThread'}")
            return item

        async def delete(self, item_id: int) -> None:
            assert item_id == self.item_id
            self.found()
            del self.store.items[item_id]

    @api.view("/items", name="items")
    class Items:
        store: Annotated[Store, Depends(get_store)]
        method_options: ClassVar[dict[str, RouteOptions]] = {
            "post": {"status_code": 201, "summary": "Add an item"}
        }

        async def get(self, limit: int = 10) -> list[str]:
            return [item.name for item in self.store.items.values()][:limit]

        async def post(self, item: Item) -> Item:
            self.store.items[max(self.store.items, default=0) + 1] = item
            return item

    app.include(api)
    return app


@pytest.fixture
def client() -> Any:
    STORE.items = {1: Item("lamp", 20.0)}
    STORE.log.clear()
    with TestClient(make_app()) as client:
        yield client


ANN = {"X-User": "ann"}


def test_methods_are_dispatched_with_shared_path_params_and_dependencies(
    client: TestClient,
) -> None:
    assert client.get("/api/items/1", headers=ANN).json() == {"name": "lamp", "by": "ann"}
    assert client.get("/api/items/1?verbose=true", headers=ANN).json() == {
        "name": "lamp",
        "by": "ann",
        "price": 20.0,
    }
    assert STORE.log == ["open", "close", "open", "close"]
    response = client.put("/api/items/2", json={"name": "desk", "price": 99}, headers=ANN)
    assert response.json() == {"name": "desk", "price": 99.0}
    assert STORE.log[-2:] == ["put in True", "close"]  # sync methods run in the thread pool
    assert client.delete("/api/items/2", headers=ANN).status_code == 204
    assert client.get("/api/items/2", headers=ANN).status_code == 404
    assert client.get("/api/items", headers=ANN).json() == ["lamp"]
    created = client.post("/api/items", json={"name": "chair", "price": 5})
    assert created.status_code == 201
    assert client.get("/api/items?limit=1").json() == ["lamp"]
    assert client.get("/api/items").json() == ["lamp", "chair"]


def test_class_declarations_are_checked_for_every_method(client: TestClient) -> None:
    assert client.get("/api/items/1").status_code == 401
    assert client.delete("/api/items/1").status_code == 401
    response = client.get("/api/items/abc", headers=ANN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["path", "item_id"]
    response = client.put("/api/items/1", json={"name": "x"}, headers=ANN)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "price"]


def test_unknown_methods_get_405_with_allow(client: TestClient) -> None:
    response = client.post("/api/items/1", json={})
    assert response.status_code == 405
    assert response.headers["allow"] == "DELETE, GET, HEAD, PUT"


def test_each_method_is_its_own_route_with_its_metadata() -> None:
    app = make_app()
    routes = {(c.route.path, c.route.methods): c.route for c in app.compile()}
    get = routes[("/api/items/{item_id}", ("GET",))]
    assert get.name == "ItemView"
    assert get.operation_id == "ItemView_get"
    assert get.tags == ("items",)
    assert get.handler.__doc__ is not None and get.handler.__doc__.startswith("Read one item.")
    assert get.handler.__qualname__.endswith("ItemView.get")
    delete = routes[("/api/items/{item_id}", ("DELETE",))]
    assert delete.status_code == 204
    post = routes[("/api/items", ("POST",))]
    assert (post.name, post.status_code, post.summary) == ("items", 201, "Add an item")
    assert app.url_path_for("ItemView", item_id=3) == "/api/items/3"
    params = {
        p.name: p.source
        for c in app.compile()
        if c.route.methods == ("GET",) and c.route.name == "ItemView"
        for p in c.plan.params
    }
    assert params == {"item_id": "path", "x_user": "header", "verbose": "query"}


def test_add_view_and_views_on_the_app() -> None:
    app = Carafe()

    class Ping:
        def get(self) -> str:
            return "pong"

        def head(self):  # type: ignore[no-untyped-def]  # no return annotation: plain JSON
            return None

    routes = app.add_view("/ping", Ping)
    assert [r.methods for r in routes] == [("GET",), ("HEAD",)]

    @app.view("/echo/{word}", name="echo")
    class Echo:
        word: str

        def __init__(self) -> None:
            self.calls = 0

        def options(self) -> str:
            self.calls += 1
            return f"{self.word}:{self.calls}"

    with TestClient(app) as client:
        assert client.get("/ping").text == "pong"
        assert client.head("/ping").status_code == 200
        assert client.options("/echo/hi").text == "hi:1"
        assert client.options("/echo/hi").text == "hi:1"  # a new instance per request


def test_view_mistakes_fail_at_startup() -> None:
    app = Carafe()
    with pytest.raises(ConfigurationError, match="must be a class"):
        app.add_view("/x", lambda: None)  # type: ignore[arg-type]

    class Empty:
        def helper(self) -> None: ...

    with pytest.raises(ConfigurationError, match="has none of the methods"):
        app.add_view("/x", Empty)

    class Unreadable:
        missing: "NoSuchType"  # type: ignore[name-defined]  # noqa: F821

        def get(self) -> None: ...

    with pytest.raises(ConfigurationError, match="Cannot read the annotations"):
        app.add_view("/x", Unreadable)

    class BadMethod:
        def get(self, q: "NoSuchType") -> None: ...  # type: ignore[name-defined]  # noqa: F821

    with pytest.raises(ConfigurationError, match="Cannot read the signature"):
        app.add_view("/x", BadMethod)

    class MissingPath:
        def get(self) -> None: ...

    app.add_view("/things/{thing_id}", MissingPath)
    with pytest.raises(ConfigurationError, match="thing_id"):
        app.compile()


def test_the_inventory_docs_example() -> None:
    from docs.examples import inventory

    editor = {"X-Editor": "ann"}
    with TestClient(inventory.app) as client:
        assert client.get("/items").json() == []
        lamp = {"name": "lamp", "price": 20, "tags": ["light"]}
        created = client.put("/items/1", json=lamp, headers=editor)
        assert created.status_code == 201
        assert created.json() == {"id": 1, "name": "lamp", "price": 20.0}
        client.put("/items/2", json={"name": "desk", "price": 99}, headers=editor)
        assert [i["name"] for i in client.get("/items").json()] == ["lamp", "desk"]
        assert [i["name"] for i in client.get("/items?tag=light").json()] == ["lamp"]
        assert client.get("/items?limit=1&offset=1").json() == [
            {"id": 2, "name": "desk", "price": 99.0}
        ]
        bad_page = client.get("/items?limit=0")
        assert bad_page.status_code == 422
        assert bad_page.json()["errors"][0]["loc"] == ["query", "limit"]
        bad_item = client.put("/items/3", json={"name": "", "price": -1}, headers=editor)
        assert [e["loc"] for e in bad_item.json()["errors"]] == [
            ["body", "name"],
            ["body", "price"],
        ]
        assert client.put("/items/3", json=lamp).status_code == 401
        assert client.get("/items/1").json()["name"] == "lamp"
        assert client.delete("/items/1", headers=editor).status_code == 204
        assert client.get("/items/1").status_code == 404
        # The app-scoped pool is shared, and every transaction was finished.
        assert client.get("/health").json() == {"pool_open": True, "transactions": 0}


@pytest.mark.slow
def test_the_inventory_example_under_a_real_server(live_server: Any) -> None:
    import httpx

    server = live_server("docs.examples.inventory:app")
    with httpx.Client(base_url=server.url) as client:
        lamp = {"name": "lamp", "price": 20}
        assert client.put("/items/1", json=lamp, headers={"X-Editor": "ann"}).status_code == 201
        assert client.get("/items/1").json() == {"id": 1, "name": "lamp", "price": 20.0}
        assert client.get("/items?limit=500").status_code == 422
        assert client.get("/health").json() == {"pool_open": True, "transactions": 0}
    output = server.stop()  # a clean shutdown closes the app-scoped pool
    assert "Traceback" not in output and "ERROR" not in output


def test_declarations_are_inherited_from_a_base_view() -> None:
    app = Carafe()

    class Authenticated:
        user: Annotated[str, Depends(current_user)]

    @app.view("/profile")
    class Profile(Authenticated):
        def get(self) -> dict[str, str]:
            return {"user": self.user}

    with TestClient(app) as client:
        assert client.get("/profile", headers=ANN).json() == {"user": "ann"}
        assert client.get("/profile").status_code == 401


def test_method_options_must_name_the_views_methods() -> None:
    app = Carafe()

    class Reader:
        method_options: ClassVar[dict[str, RouteOptions]] = {"post": {"status_code": 201}}

        async def get(self) -> str:
            return "read"

    with pytest.raises(ConfigurationError, match="names 'post', which is not one of its HTTP"):
        app.add_view("/r", Reader)

    class Odd:
        method_options = ["get"]

        async def get(self) -> str:
            return "read"

    with pytest.raises(ConfigurationError, match="method_options must be a dict"):
        app.add_view("/o", Odd)

    class Loose:
        method_options: ClassVar[dict[str, Any]] = {"get": 201}

        async def get(self) -> str:
            return "read"

    with pytest.raises(ConfigurationError, match=r"method_options\['get'\] must be a dict"):
        app.add_view("/l", Loose)
