"""Typed handler parameters: path, query, header, cookie and JSON body, compiled at startup."""

from __future__ import annotations

import contextvars
import dataclasses
import enum
import threading
from typing import Annotated, Any, Literal, TypedDict

import msgspec
import pytest

from carafe import (
    Body,
    Carafe,
    ConfigurationError,
    Cookie,
    Form,
    Header,
    Limits,
    Path,
    Query,
    Request,
)
from carafe.testing import TestClient


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class MyRequest(Request):
    __slots__ = ()


class Public(msgspec.Struct):
    name: str


class Tracing(msgspec.Struct):
    x_request_id: str
    x_retries: int = 0


class Page(msgspec.Struct):
    page: int
    size: int


class Color(enum.Enum):
    red = "red"
    blue = "blue"


def client_for(app: Carafe) -> TestClient:
    return TestClient(app)


def test_query_scalars_defaults_and_optional() -> None:
    app = Carafe()

    @app.get("/search")
    async def search(
        q: str, page: int = 1, exact: bool = False, ratio: float | None = None
    ) -> dict[str, Any]:
        return {"q": q, "page": page, "exact": exact, "ratio": ratio}

    client = client_for(app)
    assert client.get("/search?q=tea").json() == {
        "q": "tea",
        "page": 1,
        "exact": False,
        "ratio": None,
    }
    assert client.get("/search?q=a+b&page=3&exact=true&ratio=0.5").json() == {
        "q": "a b",
        "page": 3,
        "exact": True,
        "ratio": 0.5,
    }
    assert client.get("/search?q=%C3%A9t%C3%A9").json()["q"] == "été"
    missing = client.get("/search").json()
    assert missing["errors"] == [
        {"loc": ["query", "q"], "msg": "Field required", "type": "missing"}
    ]


def test_all_errors_are_reported_together() -> None:
    app = Carafe()

    @app.get("/multi/{n}")
    async def multi(n: int, page: int, size: int = 10) -> dict[str, int]:
        return {"n": n}

    body = client_for(app).get("/multi/x?page=y&size=z").json()
    assert body["detail"] == "3 validation errors in the request"
    assert [e["loc"] for e in body["errors"]] == [
        ["path", "n"],
        ["query", "page"],
        ["query", "size"],
    ]


def test_query_lists_enums_literals_and_negative_ints() -> None:
    app = Carafe()

    @app.get("/filter")
    async def filter_(
        tag: list[str],
        ids: list[int] | None = None,
        color: Color = Color.red,
        order: Literal["asc", "desc"] = "asc",
        offset: int = 0,
    ) -> dict[str, Any]:
        return {"tag": tag, "ids": ids, "color": color.value, "order": order, "offset": offset}

    client = client_for(app)
    assert client.get("/filter?tag=a&tag=b&ids=1&ids=2&color=blue&order=desc&offset=-5").json() == {
        "tag": ["a", "b"],
        "ids": [1, 2],
        "color": "blue",
        "order": "desc",
        "offset": -5,
    }
    bad = client.get("/filter?tag=a&ids=1&ids=x&color=green").json()
    assert [e["loc"] for e in bad["errors"]] == [["query", "ids", 1], ["query", "color"]]


def test_markers_with_constraints_and_aliases() -> None:
    app = Carafe()

    @app.get("/items/{item_id}")
    async def item(
        item_id: Annotated[int, Path(ge=1)],
        q: Annotated[str | None, Query(alias="search", min_length=2)] = None,
        limit: int = Query(10, le=100),
    ) -> dict[str, Any]:
        return {"item_id": item_id, "q": q, "limit": limit}

    client = client_for(app)
    assert client.get("/items/3?search=ab&limit=5").json() == {"item_id": 3, "q": "ab", "limit": 5}
    bad = client.get("/items/0?search=a&limit=500").json()
    assert bad["errors"] == [
        {"loc": ["path", "item_id"], "msg": "Expected `int` >= 1", "type": "value_error"},
        {"loc": ["query", "search"], "msg": "Expected `str` of length >= 2", "type": "value_error"},
        {"loc": ["query", "limit"], "msg": "Expected `int` <= 100", "type": "value_error"},
    ]


Slug = Annotated[str, msgspec.Meta(pattern="^[a-z-]+$")]


def test_msgspec_meta_on_a_parameter_is_checked_and_documented() -> None:
    """``Annotated[str, msgspec.Meta(...)]``, the msgspec spelling of ``Path(pattern=...)``:
    its constraints hold on path, query and header parameters alike, and are in OpenAPI."""
    app = Carafe()

    @app.get("/posts/{slug}")
    async def post(
        slug: Slug,
        q: Annotated[str, msgspec.Meta(max_length=3)] = "",
        page: Annotated[int, msgspec.Meta(ge=1)] = 1,
        x_tag: Annotated[Slug, Header()] = "none",
    ) -> list[Any]:
        return [slug, q, page, x_tag]

    client = client_for(app)
    assert client.get("/posts/a-b?q=abc&page=2", headers={"x-tag": "t"}).json() == [
        "a-b",
        "abc",
        2,
        "t",
    ]
    bad = client.get("/posts/A1?q=abcd&page=0", headers={"x-tag": "T"}).json()
    assert [(e["loc"], e["msg"]) for e in bad["errors"]] == [
        (["path", "slug"], "Expected `str` matching regex '^[a-z-]+$'"),
        (["query", "q"], "Expected `str` of length <= 3"),
        (["query", "page"], "Expected `int` >= 1"),
        (["header", "x-tag"], "Expected `str` matching regex '^[a-z-]+$'"),
    ]
    parameters = client.get("/openapi.json").json()["paths"]["/posts/{slug}"]["get"]["parameters"]
    schemas = {p["name"]: p["schema"] for p in parameters}
    assert schemas["slug"] == {"type": "string", "pattern": "^[a-z-]+$"}
    assert schemas["q"]["maxLength"] == 3 and schemas["page"]["minimum"] == 1


def test_headers_and_cookies() -> None:
    app = Carafe()

    @app.get("/who")
    async def who(
        user_agent: Annotated[str, Header()],
        x_token: Annotated[list[str], Header()],
        raw_name: Annotated[str | None, Header(convert_underscores=False)] = None,
        session: Annotated[str | None, Cookie()] = None,
        theme: str = Cookie("light"),
    ) -> dict[str, Any]:
        return {
            "ua": user_agent,
            "tokens": x_token,
            "raw": raw_name,
            "session": session,
            "theme": theme,
        }

    client = TestClient(app, cookies={"session": "abc"})
    response = client.get(
        "/who",
        headers=[("User-Agent", "tester"), ("X-Token", "a"), ("X-Token", "b"), ("raw_name", "r")],
    )
    assert response.json() == {
        "ua": "tester",
        "tokens": ["a", "b"],
        "raw": "r",
        "session": "abc",
        "theme": "light",
    }
    missing = client_for(app).get("/who", headers={"user-agent": "t"}).json()
    assert missing["errors"] == [
        {"loc": ["header", "x-token"], "msg": "Field required", "type": "missing"}
    ]


def test_body_models_of_every_kind() -> None:
    app = Carafe()

    @app.post("/items", status_code=201)
    async def create(item: Item) -> Item:
        return item

    @app.post("/points")
    async def points(points: list[Point]) -> int:
        return sum(p.x + p.y for p in points)

    @app.post("/movies")
    def movie(movie: Movie) -> str:
        return f"{movie['title']} ({movie['year']})"

    client = client_for(app)
    created = client.post("/items", json={"name": "tea", "price": 2})
    assert created.status_code == 201
    assert created.json() == {"name": "tea", "price": 2.0, "tags": []}
    assert client.post("/points", json=[{"x": 1, "y": 2}, {"x": 3, "y": 4}]).json() == 10
    assert client.post("/movies", json={"title": "Up", "year": 2009}).text == "Up (2009)"
    nested = client.post("/points", json=[{"x": 1, "y": 2}, {"x": "a", "y": 4}]).json()
    assert nested["errors"] == [
        {"loc": ["body", 1, "x"], "msg": "Expected `int`, got `str`", "type": "type_error"}
    ]


def test_body_errors() -> None:
    app = Carafe()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    client = client_for(app)
    missing = client.post("/items", json={"name": "tea"})
    assert missing.status_code == 422
    assert missing.json()["errors"] == [
        {"loc": ["body", "price"], "msg": "Field required", "type": "missing"}
    ]
    wrong = client.post("/items", json={"name": "tea", "price": "cheap"}).json()
    assert wrong["errors"][0]["loc"] == ["body", "price"]
    malformed = client.post(
        "/items", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert malformed.status_code == 400
    assert malformed.json()["detail"].startswith("The body is not valid JSON")
    empty = client.post("/items", headers={"content-type": "application/json"})
    assert empty.status_code == 422
    assert empty.json()["errors"][0]["loc"] == ["body"]
    as_text = client.post(
        "/items", content=b'{"name":"a","price":1}', headers={"content-type": "text/plain"}
    )
    assert as_text.status_code == 415
    no_type = client.post("/items", content=b'{"name":"a","price":1}')
    assert no_type.status_code == 415
    problem_json = client.post(
        "/items",
        content=b'{"name":"a","price":1}',
        headers={"content-type": "application/merge-patch+json; charset=utf-8"},
    )
    assert problem_json.status_code == 200
    deep = client.post(
        "/items", content=b"[" * 5000 + b"]" * 5000, headers={"content-type": "application/json"}
    )
    assert deep.status_code in (400, 422)


def test_untyped_deep_json_is_a_400() -> None:
    app = Carafe()

    @app.post("/any")
    async def anything(data: dict[str, Any]) -> int:
        return len(data)

    body = b'{"a":' * 100_000 + b"1" + b"}" * 100_000
    response = client_for(app).post(
        "/any", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "nested too deeply" in response.json()["detail"]


def test_optional_body_and_embedded_bodies() -> None:
    app = Carafe()

    @app.post("/maybe")
    async def maybe(item: Item | None = None) -> str:
        return "none" if item is None else item.name

    @app.post("/pair")
    async def pair(item: Item, point: Point) -> dict[str, Any]:
        return {"item": item.name, "x": point.x}

    @app.post("/embed")
    async def embed(item: Annotated[Item, Body(embed=True)]) -> str:
        return item.name

    @app.post("/count")
    async def count(n: Annotated[int, Body(embed=True)] = 1) -> int:
        return n * 2

    client = client_for(app)
    assert client.post("/maybe").text == "none"
    assert client.post("/maybe", json={"name": "x", "price": 1}).text == "x"
    assert client.post(
        "/pair", json={"item": {"name": "a", "price": 1}, "point": {"x": 3, "y": 4}}
    ).json() == {"item": "a", "x": 3}
    bad = client.post("/pair", json={"item": {"name": "a", "price": 1}, "point": {"x": 3}}).json()
    assert bad["errors"] == [
        {"loc": ["body", "point", "y"], "msg": "Field required", "type": "missing"}
    ]
    assert client.post("/embed", json={"item": {"name": "e", "price": 1}}).text == "e"
    assert client.post("/count").json() == 2
    assert client.post("/count", json={"n": 5}).json() == 10


def test_body_limit_per_app_and_per_route() -> None:
    app = Carafe(limits=Limits(max_body_size=100))

    @app.post("/small")
    async def small(data: dict[str, Any]) -> int:
        return len(data)

    @app.post("/big", limits=Limits(max_body_size=10_000))
    async def big(data: dict[str, Any]) -> int:
        return len(data)

    client = client_for(app)
    payload = {"k" + str(i): i for i in range(50)}
    too_big = client.post("/small", json=payload)
    assert too_big.status_code == 413
    assert "limit of 100 bytes" in too_big.json()["detail"]
    assert client.post("/big", json=payload).json() == 50


def test_request_is_injected_by_annotation() -> None:
    app = Carafe()

    @app.post("/echo/{name}")
    async def echo(request: Request, other: MyRequest, name: str) -> dict[str, Any]:
        return {
            "same": request is other,
            "method": request.method,
            "path_params": request.path_params,
            "body": (await request.json()),
        }

    assert client_for(app).post("/echo/z", json={"a": 1}).json() == {
        "same": True,
        "method": "POST",
        "path_params": {"name": "z"},
        "body": {"a": 1},
    }


def test_sync_handlers_run_in_threads_with_contextvars() -> None:
    var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")
    app = Carafe()

    @app.before_request
    async def set_var(request: Request) -> None:
        var.set("from hook")

    @app.get("/sync")
    def sync_handler() -> dict[str, Any]:
        return {"thread": threading.current_thread().name, "var": var.get()}

    body = client_for(app).get("/sync").json()
    assert body["thread"].startswith("carafe")
    assert body["var"] == "from hook"


def test_startup_errors_in_signatures() -> None:
    app = Carafe()

    @app.get("/p")
    async def wrong_path(x: Annotated[int, Path()]) -> int:
        return x

    with pytest.raises(ConfigurationError, match="route path has no"):
        app.compile()

    app2 = Carafe()

    @app2.get("/gen")
    async def generator() -> Any:
        yield 1

    with pytest.raises(ConfigurationError, match="generator"):
        app2.compile()

    app3 = Carafe()

    @app3.get("/unknown")
    async def unknown(x: NotDefinedAnywhere) -> int:  # type: ignore[name-defined]  # noqa: F821
        return 1

    with pytest.raises(ConfigurationError, match="Cannot read the signature"):
        app3.compile()


def test_var_args_are_ignored() -> None:
    app = Carafe()

    @app.get("/v")
    async def v(*args: Any, **kwargs: Any) -> int:
        return len(args) + len(kwargs)

    assert client_for(app).get("/v?x=1").json() == 0


def test_return_annotation_filters_and_converts() -> None:
    app = Carafe()

    @app.get("/user")
    async def user() -> Public:
        return {"name": "ann", "password_hash": "secret"}  # type: ignore[return-value]

    @app.get("/user-struct")
    async def user_struct() -> Public:
        return Public("bob")

    @app.get("/points", response_model=list[Point])
    async def points() -> Any:
        return [Point(1, 2)]

    client = client_for(app)
    assert client.get("/user").json() == {"name": "ann"}
    assert client.get("/user-struct").json() == {"name": "bob"}
    assert client.get("/points").json() == [{"x": 1, "y": 2}]


def test_json_body_and_form_fields_together_fail_at_startup() -> None:
    app = Carafe()

    @app.post("/both")
    async def both(item: Item, note: Annotated[str, Form()]) -> str:
        return note

    with pytest.raises(ConfigurationError, match="one body"):
        app.compile()


def test_a_header_group_names_the_header_in_its_errors() -> None:
    app = Carafe()

    @app.get("/trace")
    async def trace(t: Annotated[Tracing, Header()]) -> dict[str, Any]:
        return {"id": t.x_request_id, "retries": t.x_retries}

    @app.get("/raw")
    async def raw(t: Annotated[Tracing, Header(convert_underscores=False)]) -> str:
        return t.x_request_id

    client = client_for(app)
    assert client.get("/trace", headers={"X-Request-Id": "a", "X-Retries": "2"}).json() == {
        "id": "a",
        "retries": 2,
    }
    assert client.get("/trace").json()["errors"] == [
        {"loc": ["header", "x-request-id"], "msg": "Field required", "type": "missing"}
    ]
    retries = client.get("/trace", headers={"X-Request-Id": "a", "X-Retries": "x"})
    assert retries.json()["errors"] == [
        {"loc": ["header", "x-retries"], "msg": "Expected `int`, got `str`", "type": "type_error"}
    ]
    assert client.get("/raw").json()["errors"] == [
        {"loc": ["header", "x_request_id"], "msg": "Field required", "type": "missing"}
    ]


def test_a_body_or_group_reports_every_error_at_once() -> None:
    app = Carafe()

    @app.post("/items")
    async def create(item: Item) -> Item:
        return item

    @app.get("/pages")
    async def pages(p: Annotated[Page, Query()], session: Annotated[Page, Cookie()]) -> int:
        return p.page

    client = TestClient(app, cookies={"size": "big"})
    assert client.post("/items", json={"name": 1, "price": "x", "tags": "a"}).json()["errors"] == [
        {"loc": ["body", "name"], "msg": "Expected `str`, got `int`", "type": "type_error"},
        {"loc": ["body", "price"], "msg": "Expected `float`, got `str`", "type": "type_error"},
        {"loc": ["body", "tags"], "msg": "Expected `array`, got `str`", "type": "type_error"},
    ]
    assert [e["loc"] for e in client.get("/pages?size=x").json()["errors"]] == [
        ["query", "page"],
        ["query", "size"],
        ["cookie", "page"],
        ["cookie", "size"],
    ]
