"""Codecs as a user sees them: response types filter and validate, bodies report every error."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, TypedDict

import msgspec

from carafe import Body, Carafe, Query
from carafe.testing import TestClient

# --- Every error at once ------------------------------------------------------------------


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


class Order(msgspec.Struct):
    id: int
    items: list[Item]
    notes: dict[str, str] = {}


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Movie(TypedDict):
    title: str
    year: int


class Strict(msgspec.Struct, forbid_unknown_fields=True):
    size: Annotated[int, msgspec.Meta(ge=1)]
    codes: Annotated[list[str], msgspec.Meta(max_length=1)] = []


class Filters(msgspec.Struct):
    page: int
    size: int = 10
    tags: list[int] = []


def _body_app() -> Carafe:
    app = Carafe()

    @app.post("/items")
    async def create_item(item: Item) -> Item:
        return item

    @app.post("/orders")
    async def create_order(order: Order) -> int:
        return order.id

    @app.post("/points")
    async def points(points: list[Point]) -> int:
        return len(points)

    @app.post("/movies")
    async def movies(movie: Movie) -> str:
        return movie["title"]

    @app.post("/pair")
    async def pair(item: Item, point: Point) -> str:
        return item.name

    return app


def _errors(response: Any) -> list[tuple[list[Any], str]]:
    assert response.status_code == 422, response.text
    return [(error["loc"], error["type"]) for error in response.json()["errors"]]


def test_a_body_reports_every_error_at_once() -> None:
    with TestClient(_body_app()) as client:
        response = client.post("/items", json={"name": 1, "price": "x", "tags": "a"})
        assert response.json()["detail"] == "3 validation errors in the request"
        assert response.json()["errors"] == [
            {"loc": ["body", "name"], "msg": "Expected `str`, got `int`", "type": "type_error"},
            {"loc": ["body", "price"], "msg": "Expected `float`, got `str`", "type": "type_error"},
            {"loc": ["body", "tags"], "msg": "Expected `array`, got `str`", "type": "type_error"},
        ]
        assert _errors(client.post("/items", json={})) == [
            (["body", "name"], "missing"),
            (["body", "price"], "missing"),
        ]
        assert _errors(client.post("/items", json={"price": 1, "tags": ["a", 2, 3]})) == [
            (["body", "name"], "missing"),
            (["body", "tags", 1], "type_error"),
            (["body", "tags", 2], "type_error"),
        ]


def test_errors_are_found_in_nested_models_lists_and_dicts() -> None:
    order = {
        "id": "seven",
        "items": [{"name": "a", "price": 1}, {"price": "x"}, "junk"],
        "notes": {"ok": "fine", "bad": 3},
    }
    with TestClient(_body_app()) as client:
        assert _errors(client.post("/orders", json=order)) == [
            (["body", "id"], "type_error"),
            (["body", "items", 1, "name"], "missing"),
            (["body", "items", 1, "price"], "type_error"),
            (["body", "items", 2], "type_error"),
            (["body", "notes", "bad"], "type_error"),
        ]
        assert _errors(client.post("/points", json=[{"x": "a"}, {"x": 1, "y": 2}, {}])) == [
            (["body", 0, "x"], "type_error"),
            (["body", 0, "y"], "missing"),
            (["body", 2, "x"], "missing"),
            (["body", 2, "y"], "missing"),
        ]
        assert _errors(client.post("/movies", json={"year": "1999"})) == [
            (["body", "title"], "missing"),
            (["body", "year"], "type_error"),
        ]
        assert _errors(client.post("/pair", json={"item": {"price": "x"}, "point": {}})) == [
            (["body", "item", "name"], "missing"),
            (["body", "item", "price"], "type_error"),
            (["body", "point", "x"], "missing"),
            (["body", "point", "y"], "missing"),
        ]


class Row(msgspec.Struct, array_like=True):
    x: int
    y: int


class Shapes(msgspec.Struct):
    kind: Literal["shape"]
    size: tuple[int, int]
    origin: Point | None = None
    row: Row | None = None
    labels: dict[str, Annotated[int, []]] = {}  # unhashable metadata, allowed by msgspec


def test_errors_are_found_through_optionals_tuples_and_odd_annotations() -> None:
    app = Carafe()

    @app.post("/shapes")
    async def shapes(shapes: Shapes) -> str:
        return shapes.kind

    body = {"kind": {}, "size": ["a", "b"], "origin": {"x": "1"}, "row": [1], "labels": {"a": "b"}}
    with TestClient(app) as client:
        assert _errors(client.post("/shapes", json=body)) == [
            (["body", "kind"], "type_error"),
            (["body", "size", 0], "type_error"),
            (["body", "size", 1], "type_error"),
            (["body", "origin", "x"], "type_error"),
            (["body", "origin", "y"], "missing"),
            (["body", "row"], "value_error"),  # an array-like Struct is checked whole
            (["body", "labels", "a"], "type_error"),
        ]
        short = {"kind": "shape", "size": [1], "origin": None, "row": {"x": 1}}
        assert _errors(client.post("/shapes", json=short)) == [
            (["body", "size"], "value_error"),
            (["body", "row"], "type_error"),
        ]


def test_constraints_and_model_checks_are_still_reported() -> None:
    app = Carafe()

    @app.post("/strict")
    async def strict(body: Strict) -> int:
        return body.size

    with TestClient(app) as client:
        assert client.post("/strict", json={"size": 0, "codes": ["a", 1]}).json()["errors"] == [
            {"loc": ["body", "size"], "msg": "Expected `int` >= 1", "type": "value_error"},
            {"loc": ["body", "codes", 1], "msg": "Expected `str`, got `int`", "type": "type_error"},
        ]
        assert _errors(client.post("/strict", json={"size": 1, "codes": ["a", "b"]})) == [
            (["body", "codes"], "value_error"),
        ]
        assert _errors(client.post("/strict", json={"size": 1, "other": 1})) == [
            (["body"], "value_error"),  # msgspec's own message: an unknown field
        ]


def test_a_flood_of_errors_is_cut_short() -> None:
    app = Carafe()

    @app.post("/names")
    async def names(names: Annotated[list[str], Body()]) -> int:
        return len(names)

    with TestClient(app) as client:
        response = client.post("/names", json=list(range(10_000)))
    assert response.status_code == 422
    assert len(response.json()["errors"]) == 100


def test_malformed_json_after_a_wrong_value_is_a_400() -> None:
    with TestClient(_body_app()) as client:
        response = client.post(
            "/items", content=b'{"name": 1, "price": ', headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The body is not valid JSON")


def test_a_query_group_reports_every_error_at_once() -> None:
    app = Carafe()

    @app.get("/search")
    async def search(filters: Annotated[Filters, Query()]) -> int:
        return filters.page

    @app.get("/ids")
    async def ids(ids: list[int]) -> int:
        return len(ids)

    with TestClient(app) as client:
        assert client.get("/search?page=2&tags=3").json() == 2
        assert _errors(client.get("/search?size=x&tags=1&tags=y&tags=z")) == [
            (["query", "page"], "missing"),
            (["query", "size"], "type_error"),
            (["query", "tags", 1], "type_error"),
            (["query", "tags", 2], "type_error"),
        ]
        assert _errors(client.get("/ids?ids=a&ids=2&ids=c")) == [
            (["query", "ids", 0], "type_error"),
            (["query", "ids", 2], "type_error"),
        ]
