"""Codecs as a user sees them: response types filter and validate, bodies report every error."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal, NamedTuple, TypedDict

import msgspec
import pytest

from carafe import Body, Carafe, ConfigurationError, Query
from carafe.responses import HTMLResponse
from carafe.testing import TestClient


class UserOut(msgspec.Struct):
    name: str


@dataclasses.dataclass
class UserRow:  # what a database layer hands back
    name: str
    password_hash: str


class OrmUser:  # an ORM object: attributes, not a mapping
    def __init__(self, name: str) -> None:
        self.name = name
        self.password_hash = "pbkdf2$secret"


@dataclasses.dataclass
class UserCard:
    name: str


class UserDict(TypedDict):
    name: str


class Team(msgspec.Struct):
    lead: UserOut
    members: list[UserOut]


class Pair(NamedTuple):
    left: int
    right: int


class Cat(msgspec.Struct):
    meow: str


class Dog(msgspec.Struct):
    bark: str


ROW: dict[str, Any] = {"name": "ann", "password_hash": "pbkdf2$secret"}


def _server_error_client(app: Carafe) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


# --- Response types ---------------------------------------------------------------------


def _container_app() -> Carafe:
    app = Carafe()

    @app.get("/list-of-rows")
    async def list_of_rows() -> list[UserOut]:
        return [UserRow("ann", "x"), ROW, OrmUser("bob")]  # type: ignore[list-item]

    @app.get("/optional/{present}")
    async def optional(present: bool) -> UserOut | None:
        return UserRow("ann", "x") if present else None  # type: ignore[return-value]

    @app.get("/by-name")
    async def by_name() -> dict[str, UserOut]:
        return {"a": ROW, "b": OrmUser("bob")}  # type: ignore[dict-item]

    @app.get("/tuple")
    async def as_tuple() -> tuple[UserOut, ...]:
        return (ROW,)  # type: ignore[return-value]

    @app.get("/nested")
    async def nested() -> list[list[UserOut]]:
        return [[ROW], [OrmUser("bob")]]  # type: ignore[list-item]

    @app.get("/annotated")
    async def annotated() -> Annotated[list[UserOut], "users"]:
        return [ROW]  # type: ignore[list-item]

    @app.get("/inside-a-struct")
    async def inside_a_struct() -> Team:
        return {"lead": ROW, "members": [OrmUser("bob")]}  # type: ignore[return-value]

    @app.get("/dataclass")
    async def dataclass_type() -> UserCard:
        return ROW  # type: ignore[return-value]

    @app.get("/typed-dict")
    async def typed_dict() -> UserDict:
        return ROW  # type: ignore[return-value]

    @app.get("/list-of-typed-dicts")
    async def list_of_typed_dicts() -> list[UserDict]:
        return [ROW, {**ROW, "name": "bob"}]  # type: ignore[list-item]  # mappings only

    return app


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/list-of-rows", [{"name": "ann"}, {"name": "ann"}, {"name": "bob"}]),
        ("/optional/true", {"name": "ann"}),
        ("/optional/false", None),
        ("/by-name", {"a": {"name": "ann"}, "b": {"name": "bob"}}),
        ("/tuple", [{"name": "ann"}]),
        ("/nested", [[{"name": "ann"}], [{"name": "bob"}]]),
        ("/annotated", [{"name": "ann"}]),
        ("/inside-a-struct", {"lead": {"name": "ann"}, "members": [{"name": "bob"}]}),
        ("/dataclass", {"name": "ann"}),
        ("/typed-dict", {"name": "ann"}),
        ("/list-of-typed-dicts", [{"name": "ann"}, {"name": "bob"}]),
    ],
)
def test_a_model_inside_any_container_filters_undeclared_fields(path: str, body: Any) -> None:
    with TestClient(_container_app()) as client:
        response = client.get(path)
    assert response.status_code == 200
    assert response.json() == body
    assert "password_hash" not in response.text


def test_a_wrong_value_inside_a_container_is_a_500_and_nothing_of_it_is_sent() -> None:
    app = Carafe()

    @app.get("/wrong-item")
    async def wrong_item() -> list[UserOut]:
        return [UserOut("ann"), {"nom": "secret-value"}]  # type: ignore[list-item]

    @app.get("/wrong-scalar")
    async def wrong_scalar() -> list[UserOut]:
        return [UserOut("ann"), 42]  # type: ignore[list-item]

    @app.get("/wrong-value")
    async def wrong_value() -> dict[str, int]:
        return {"a": "secret-value"}  # type: ignore[dict-item]

    with _server_error_client(app) as client:
        for path in ("/wrong-item", "/wrong-scalar", "/wrong-value"):
            response = client.get(path)
            assert response.status_code == 500, path
            assert response.headers["content-type"] == "application/problem+json"
            assert "secret-value" not in response.text and "ann" not in response.text


def test_the_declared_struct_itself_is_sent_as_it_is() -> None:
    app = Carafe()

    @app.get("/one")
    async def one() -> UserOut:
        return UserOut("ann")

    @app.get("/many")
    async def many() -> list[UserOut]:
        return [UserOut("ann"), UserOut("bob")]

    @app.get("/maybe")
    async def maybe() -> Annotated[UserOut | None, "doc"]:
        return UserOut("cy")

    with TestClient(app) as client:
        assert client.get("/one").json() == {"name": "ann"}
        assert client.get("/many").json() == [{"name": "ann"}, {"name": "bob"}]
        assert client.get("/maybe").json() == {"name": "cy"}


def test_untyped_annotations_send_what_the_handler_returns() -> None:
    app = Carafe()
    payload = {"name": "ann", "extra": [1, "two"]}

    @app.get("/dict")
    async def plain_dict() -> dict:  # type: ignore[type-arg]
        return payload

    @app.get("/dict-any")
    async def dict_any() -> dict[str, Any]:
        return payload

    @app.get("/list")
    async def plain_list() -> list:  # type: ignore[type-arg]
        return [payload]

    @app.get("/list-of-dicts")
    async def list_of_dicts() -> list[dict[str, Any]] | None:
        return [payload]

    @app.get("/any")
    async def anything() -> Any:
        return payload

    with TestClient(app) as client:
        assert client.get("/dict").json() == payload
        assert client.get("/dict-any").json() == payload
        assert client.get("/list").json() == [payload]
        assert client.get("/list-of-dicts").json() == [payload]
        assert client.get("/any").json() == payload


def test_typed_scalar_containers_are_validated_too() -> None:
    app = Carafe()

    @app.get("/counts")
    async def counts() -> dict[str, float]:
        return {"a": 1}

    @app.get("/tags")
    async def tags() -> set[str]:
        return {"x"}

    with TestClient(app) as client:
        assert client.get("/counts").json() == {"a": 1.0}
        assert client.get("/tags").json() == ["x"]


def test_a_union_of_untagged_structs_tries_each_in_order() -> None:
    app = Carafe()

    @app.get("/pet-or-row/{kind}")
    async def pet_or_row(kind: str) -> Annotated[Cat | dict[str, Any], "either"]:
        return {"meow": "mew", "owner_secret": "x"} if kind == "cat" else {"any": "thing"}

    @app.get("/pet/{kind}")
    async def pet(kind: str) -> Cat | Dog:
        if kind == "cat":
            return Cat("purr")
        if kind == "dog-row":
            return {"bark": "woof", "owner_secret": "x"}  # type: ignore[return-value]
        if kind == "cat-row":
            return {"meow": "mew", "owner_secret": "x"}  # type: ignore[return-value]
        return {"owner_secret": "x"}  # type: ignore[return-value]

    with _server_error_client(app) as client:
        assert client.get("/pet/cat").json() == {"meow": "purr"}
        assert client.get("/pet/dog-row").json() == {"bark": "woof"}
        assert client.get("/pet/cat-row").json() == {"meow": "mew"}
        assert client.get("/pet-or-row/cat").json() == {"meow": "mew"}
        assert client.get("/pet-or-row/other").json() == {"any": "thing"}
        response = client.get("/pet/fish")
        assert response.status_code == 500
        assert "owner_secret" not in response.text


def test_a_response_class_in_a_union_is_sent_as_it_is() -> None:
    app = Carafe()

    @app.get("/either/{html}")
    async def either(html: bool) -> HTMLResponse | UserOut:
        return HTMLResponse("<p>hi</p>") if html else ROW  # type: ignore[return-value]

    with TestClient(app) as client:
        assert client.get("/either/true").text == "<p>hi</p>"
        assert client.get("/either/false").json() == {"name": "ann"}


def test_a_response_type_that_cannot_be_validated_fails_at_startup() -> None:
    app = Carafe()

    @app.get("/pets")
    async def pets() -> list[Cat | Dog]:
        return []

    with pytest.raises(ConfigurationError, match="cannot be validated"):
        app.compile()


class Opaque:
    """A type msgspec knows nothing of; only its instances' own encoding applies."""


def test_a_type_without_fields_that_msgspec_cannot_convert_to_is_sent_as_it_is() -> None:
    app = Carafe()

    @app.get("/mixed")
    async def mixed() -> list[Opaque | int]:
        return [1, 2]

    with TestClient(app) as client:
        assert client.get("/mixed").json() == [1, 2]


def test_a_named_tuple_response_type() -> None:
    app = Carafe()

    @app.get("/pair")
    async def pair() -> Pair:
        return [1, 2]  # type: ignore[return-value]

    @app.get("/bad-pair")
    async def bad_pair() -> Pair:
        return [1, "two"]  # type: ignore[return-value]

    with _server_error_client(app) as client:
        assert client.get("/pair").json() == [1, 2]
        assert client.get("/bad-pair").status_code == 500


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


class Square(msgspec.Struct, tag=True):
    side: int


class Circle(msgspec.Struct, tag=True):
    radius: int


class Shapes(msgspec.Struct):
    kind: Literal["shape"]
    size: tuple[int, int]
    origin: Point | None = None
    row: Row | None = None
    labels: dict[str, Annotated[int, []]] = {}  # unhashable metadata, allowed by msgspec
    pieces: list[Square | Circle] = []


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
        # A tagged union or an array-like Struct is checked whole, by msgspec's own words.
        pieces = [{"type": "Square"}, {"type": "Circle", "radius": "r"}]
        deeper = {"kind": "shape", "size": [1, 2], "row": [1, "y"], "pieces": pieces}
        assert _errors(client.post("/shapes", json=deeper)) == [
            (["body", "row", 1], "type_error"),
            (["body", "pieces", 0, "side"], "missing"),
            (["body", "pieces", 1, "radius"], "type_error"),
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
