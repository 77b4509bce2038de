"""pydantic v2 models: bodies, parameter groups and response models, unchanged from FastAPI."""

import dataclasses
import subprocess
import sys
import types
from typing import Annotated, Any

import msgspec
import pydantic
import pytest
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from carafe import Body, Carafe, Cookie, Header, Query
from carafe.testing import TestClient


class Address(BaseModel):
    city: str
    zip_code: str = Field(alias="zipCode", pattern=r"^\d{5}$")


class User(BaseModel):
    name: str
    age: int = Field(ge=0)
    email: str
    addresses: list[Address] = []

    @field_validator("name")
    @classmethod
    def name_is_capitalised(cls, value: str) -> str:
        if not value[:1].isupper():
            raise ValueError("must start with a capital letter")
        return value


class UserOut(BaseModel):
    name: str
    addresses: list[Address] = []


class UserWithSecret(UserOut):
    password_hash: str


class Period(BaseModel):
    start: int
    end: int

    @model_validator(mode="after")
    def ordered(self) -> "Period":
        if self.end < self.start:
            raise ValueError("end is before start")
        return self


class Filters(BaseModel):
    q: str | None = None
    limit: int = Field(10, ge=1, le=100)
    tags: list[str] = []
    sort_by: str = Field("name", alias="sortBy")


class StructFilters(msgspec.Struct):
    limit: int = 10
    tags: list[int] = []


@dataclasses.dataclass
class DataclassFilters:
    page: int
    size: int = 20


class Tracing(BaseModel):
    x_request_id: str
    x_retries: int = 0


class Prefs(BaseModel):
    theme: str = "light"
    font_size: int = 12


@pydantic.dataclasses.dataclass
class Coordinates:
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class Envelope(msgspec.Struct):
    user: UserOut
    days: int
    note: str
    labels: list[str]


def make_app() -> Carafe:
    app = Carafe()
    _body_routes(app)
    _response_routes(app)
    _group_routes(app)
    return app


def _body_routes(app: Carafe) -> None:
    @app.post("/users", status_code=201)
    async def create_user(user: User) -> User:
        return user

    @app.post("/users/public")
    def create_public(user: User) -> UserOut:
        return user  # type: ignore[return-value]  # filtered to UserOut

    @app.post("/periods")
    async def periods(items: list[Period]) -> list[Period]:
        return items

    @app.post("/embedded")
    async def embedded(
        user: User,
        period: Period,
        note: Annotated[str, Body()] = "",
        labels: Annotated[list[str], Body()] = [],  # noqa: B006  (msgspec copies it)
    ) -> Envelope:
        days = period.end - period.start
        return Envelope(user=UserOut(name=user.name), days=days, note=note, labels=labels)

    @app.post("/coords")
    async def coords(point: Coordinates) -> Coordinates:
        return point


def _response_routes(app: Carafe) -> None:
    @app.get("/leaky")
    async def leaky() -> UserOut:
        return UserWithSecret(name="Ann", password_hash="x")

    @app.get("/from-dict")
    async def from_dict() -> UserOut:
        return {"name": "Ann", "password_hash": "x"}  # type: ignore[return-value]

    @app.get("/broken-dict")
    async def broken_dict() -> UserOut:
        return {"nom": "Ann"}  # type: ignore[return-value]

    @app.get("/broken-object")
    async def broken_object() -> UserOut:
        return types.SimpleNamespace(nom="Ann")  # type: ignore[return-value]

    @app.get("/many")
    async def many() -> list[UserOut]:
        return [UserOut(name="A"), {"name": "B", "password_hash": "x"}]  # type: ignore[list-item]

    @app.get("/optional/{present}")
    async def optional(present: bool) -> UserOut | None:
        return UserOut(name="A") if present else None

    @app.get("/by-name")
    async def by_name() -> dict[str, UserOut]:
        return {"a": UserOut(name="A")}

    @app.get("/envelope/{kind}")
    async def envelope(kind: str) -> Envelope:
        user = UserWithSecret(name="Ann", password_hash="x")
        if kind == "struct":
            return Envelope(user=UserOut(name="Ann"), days=1, note="n", labels=[])
        if kind == "object":
            return types.SimpleNamespace(user=user, days=1, note="n", labels=[])  # type: ignore[return-value]
        row = {"user": user, "days": 1, "note": "n", "labels": [], "secret": "x"}
        return row  # type: ignore[return-value]

    @app.get("/mixed")
    async def mixed() -> dict[str, Any]:
        return {"user": UserOut(name="A", addresses=[Address(city="X", zipCode="12345")])}


def _group_routes(app: Carafe) -> None:
    @app.get("/search")
    async def search(filters: Annotated[Filters, Query()]) -> Filters:
        return filters

    @app.get("/struct-search")
    async def struct_search(filters: Annotated[StructFilters, Query()]) -> dict[str, Any]:
        return {"limit": filters.limit, "tags": filters.tags}

    @app.get("/pages")
    async def pages(p: Annotated[DataclassFilters, Query()]) -> dict[str, int]:
        return {"page": p.page, "size": p.size}

    @app.get("/trace")
    async def trace(t: Annotated[Tracing, Header()]) -> dict[str, Any]:
        return t.model_dump()

    @app.get("/raw-trace")
    async def raw_trace(t: Annotated[Tracing, Header(convert_underscores=False)]) -> str:
        return t.x_request_id

    @app.get("/prefs")
    async def prefs(p: Annotated[Prefs, Cookie()]) -> dict[str, Any]:
        return p.model_dump()

    @app.get("/maybe")
    async def maybe(p: Annotated[Prefs | None, Cookie()] = None) -> dict[str, Any] | None:
        return None if p is None else p.model_dump()


@pytest.fixture(scope="module")
def client() -> Any:
    with TestClient(make_app()) as client:
        yield client


GOOD_USER = {
    "name": "Ann",
    "age": 31,
    "email": "ann@example.com",
    "addresses": [{"city": "Lyon", "zipCode": "69001"}],
}


# --- Bodies --------------------------------------------------------------------------


def test_model_body_round_trips_with_aliases_and_nested_models(client: TestClient) -> None:
    response = client.post("/users", json=GOOD_USER)
    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == GOOD_USER


def test_body_errors_have_the_msgspec_shape_with_pydantic_types(client: TestClient) -> None:
    bad = {"name": "ann", "age": -1, "addresses": [{"city": "Lyon", "zipCode": "6900"}]}
    response = client.post("/users", json=bad)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["title"] == "Unprocessable Content" or problem["status"] == 422
    assert problem["detail"] == "4 validation errors in the request"
    errors = {tuple(e["loc"]): e for e in problem["errors"]}
    assert set(errors) == {
        ("body", "name"),
        ("body", "age"),
        ("body", "email"),
        ("body", "addresses", 0, "zipCode"),
    }
    assert errors[("body", "name")]["type"] == "value_error"
    assert "capital letter" in errors[("body", "name")]["msg"]
    assert errors[("body", "age")]["type"] == "greater_than_equal"
    assert errors[("body", "email")] == {
        "loc": ["body", "email"],
        "msg": "Field required",
        "type": "missing",
    }
    assert errors[("body", "addresses", 0, "zipCode")]["type"] == "string_pattern_mismatch"
    for error in problem["errors"]:
        assert set(error) == {"loc", "msg", "type"}  # no input echoed back


def test_malformed_json_is_a_400_and_too_deep_json_too(client: TestClient) -> None:
    response = client.post(
        "/users", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["detail"].startswith("The body is not valid JSON")
    deep = b"[" * 5000 + b"]" * 5000
    response = client.post("/periods", content=deep, headers={"content-type": "application/json"})
    assert response.status_code == 400
    # The server keeps serving.
    assert client.post("/users", json=GOOD_USER).status_code == 201


def test_missing_body_and_wrong_media_type(client: TestClient) -> None:
    response = client.post("/users")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body"]
    response = client.post("/users", content=b"name=Ann", headers={"content-type": "text/plain"})
    assert response.status_code == 415


def test_list_of_models_with_a_model_validator(client: TestClient) -> None:
    ok = [{"start": 1, "end": 3}]
    assert client.post("/periods", json=ok).json() == ok
    response = client.post("/periods", json=[{"start": 1, "end": 3}, {"start": 5, "end": 2}])
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["body", 1]
    assert "end is before start" in error["msg"]


def test_several_body_models_are_embedded_by_name(client: TestClient) -> None:
    body = {"user": GOOD_USER, "period": {"start": 1, "end": 8}, "note": "hi", "labels": ["x"]}
    assert client.post("/embedded", json=body).json() == {
        "user": {"name": "Ann", "addresses": []},
        "days": 7,
        "note": "hi",
        "labels": ["x"],
    }
    body = {"user": GOOD_USER, "period": {"start": 1, "end": 8}}
    assert client.post("/embedded", json=body).json()["note"] == ""
    assert client.post("/embedded", json=body).json()["labels"] == []
    response = client.post("/embedded", json={"user": {**GOOD_USER, "age": "x"}})
    assert response.status_code == 422
    assert {tuple(e["loc"]) for e in response.json()["errors"]} == {
        ("body", "user", "age"),
        ("body", "period"),
    }


def test_pydantic_dataclass_body_runs_its_validation(client: TestClient) -> None:
    assert client.post("/coords", json={"lat": 45.7, "lon": 4.8}).json() == {
        "lat": 45.7,
        "lon": 4.8,
    }
    response = client.post("/coords", json={"lat": 91, "lon": 4.8})
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "lat"]


# --- Responses ------------------------------------------------------------------------


def test_response_model_filters_what_the_declared_type_does_not_have(client: TestClient) -> None:
    assert client.post("/users/public", json=GOOD_USER).json() == {
        "name": "Ann",
        "addresses": [{"city": "Lyon", "zipCode": "69001"}],
    }
    assert client.get("/leaky").json() == {"name": "Ann", "addresses": []}
    assert client.get("/from-dict").json() == {"name": "Ann", "addresses": []}


def test_containers_of_models_as_response_types(client: TestClient) -> None:
    assert client.get("/many").json() == [
        {"name": "A", "addresses": []},
        {"name": "B", "addresses": []},
    ]
    assert client.get("/optional/true").json() == {"name": "A", "addresses": []}
    assert client.get("/optional/false").json() is None
    assert client.get("/by-name").json() == {"a": {"name": "A", "addresses": []}}
    assert client.get("/mixed").json() == {
        "user": {"name": "A", "addresses": [{"city": "X", "zipCode": "12345"}]}
    }


def test_a_struct_holding_models_filters_a_dict_or_an_object(client: TestClient) -> None:
    expected = {"user": {"name": "Ann", "addresses": []}, "days": 1, "note": "n", "labels": []}
    for kind in ("struct", "object", "dict"):
        response = client.get(f"/envelope/{kind}")
        assert response.json() == expected, kind


def test_a_response_that_does_not_fit_its_model_is_a_500_without_details() -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get("/broken-dict")
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert "nom" not in response.text and "Traceback" not in response.text
        response = client.get("/broken-object")
        assert response.status_code == 500
        assert response.json()["detail"] == "The server failed to answer this request."
        assert client.get("/leaky").status_code == 200


# --- Parameter groups -------------------------------------------------------------------


def test_query_parameter_group_from_a_pydantic_model(client: TestClient) -> None:
    assert client.get("/search").json() == {"q": None, "limit": 10, "tags": [], "sortBy": "name"}
    response = client.get("/search?q=lamp&limit=5&tags=a&tags=b&sortBy=price&other=1")
    assert response.json() == {"q": "lamp", "limit": 5, "tags": ["a", "b"], "sortBy": "price"}
    response = client.get("/search?limit=0")
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {
            "loc": ["query", "limit"],
            "msg": "Input should be greater than or equal to 1",
            "type": "greater_than_equal",
        }
    ]


def test_query_parameter_group_from_a_struct_and_a_dataclass(client: TestClient) -> None:
    assert client.get("/struct-search?limit=3&tags=1&tags=2").json() == {"limit": 3, "tags": [1, 2]}
    response = client.get("/struct-search?tags=1&tags=x")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["query", "tags", 1]
    assert client.get("/pages?page=2").json() == {"page": 2, "size": 20}
    response = client.get("/pages")
    assert response.status_code == 422
    assert response.json()["errors"][0] == {
        "loc": ["query", "page"],
        "msg": "Field required",
        "type": "missing",
    }


def test_header_and_cookie_parameter_groups(client: TestClient) -> None:
    response = client.get("/trace", headers={"X-Request-Id": "abc", "X-Retries": "2"})
    assert response.json() == {"x_request_id": "abc", "x_retries": 2}
    response = client.get("/trace")
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "x-request-id"]
    assert client.get("/raw-trace", headers={"X_Request_Id": "raw"}).text == "raw"
    assert client.get("/raw-trace", headers={"X-Request-Id": "dashed"}).status_code == 422
    client.cookies.set("font_size", "14")
    try:
        assert client.get("/prefs").json() == {"theme": "light", "font_size": 14}
        assert client.get("/maybe").json() == {"theme": "light", "font_size": 14}
    finally:
        client.cookies.clear()
    assert client.get("/maybe").json() is None
    client.cookies.set("font_size", "big")
    try:
        response = client.get("/prefs")
    finally:
        client.cookies.clear()
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["cookie", "font_size"]


def test_group_fields_are_listed_in_the_plan_for_openapi() -> None:
    app = make_app()
    compiled = {c.route.path: c.plan for c in app.compile()}
    search = {p.key: p for p in compiled["/search"].params}
    assert list(search) == ["q", "limit", "tags", "sortBy"]
    assert {p.source for p in search.values()} == {"query"}
    assert not search["limit"].required and search["limit"].default == 10
    trace = {p.key: p for p in compiled["/trace"].params}
    assert list(trace) == ["x-request-id", "x-retries"]
    assert trace["x-request-id"].required


# --- The plugin itself -------------------------------------------------------------------


def test_plugin_claims_only_types_that_involve_pydantic() -> None:
    from carafe._pydantic import PydanticPlugin, group_fields

    plugin = PydanticPlugin()

    class Embedded(msgspec.Struct):
        user: User

    class Plain(msgspec.Struct):
        n: int

    class Later(msgspec.Struct):
        other: "NotDefinedAnywhere"  # type: ignore[name-defined]  # noqa: F821

    for tp in (User, list[User], User | None, dict[str, User], Coordinates, Embedded):
        assert plugin.claims(tp), tp
    for tp in (int, str, list[int], Plain, Later, dict[str, int], Any):
        assert not plugin.claims(tp), tp
    nested: Any = User
    for _ in range(12):
        nested = list[nested]
    assert not plugin.claims(nested)  # deeper than anyone nests a response type
    assert group_fields(Plain) is None
    with pytest.raises(NotImplementedError):
        plugin.enc_hook(object())
    schema = plugin.json_schema(UserOut)
    assert schema["properties"]["addresses"]["items"] == {"$ref": "#/components/schemas/Address"}


def test_plugin_converter_for_non_model_types() -> None:
    from carafe import RequestValidationError
    from carafe._pydantic import PydanticPlugin

    convert = PydanticPlugin().converter(list[Address], ("query", "a"))
    assert convert([{"city": "X", "zipCode": "12345"}]) == [Address(city="X", zipCode="12345")]
    with pytest.raises(RequestValidationError) as info:
        convert([{"city": "X"}])
    assert info.value.errors == [
        {"loc": ["query", "a", 0, "zipCode"], "msg": "Field required", "type": "missing"}
    ]


def test_strict_config_and_extra_forbid_are_respected() -> None:
    class Strict(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True)
        n: int

    app = Carafe()

    @app.post("/")
    async def handler(s: Strict) -> Strict:
        return s

    with TestClient(app) as client:
        assert client.post("/", json={"n": 1}).json() == {"n": 1}
        response = client.post("/", json={"n": "1", "x": 2})
        assert response.status_code == 422
        assert {e["type"] for e in response.json()["errors"]} == {"int_type", "extra_forbidden"}


def test_openapi_document_uses_pydantic_schemas_and_lists_group_fields() -> None:
    from openapi_spec_validator import validate

    with TestClient(make_app()) as client:
        document = client.get("/openapi.json").json()
    validate(document)
    search = document["paths"]["/search"]["get"]["parameters"]
    assert [(p["name"], p["in"], p["required"]) for p in search] == [
        ("q", "query", False),
        ("limit", "query", False),
        ("tags", "query", False),
        ("sortBy", "query", False),
    ]
    assert search[1]["schema"] == {"type": "integer", "default": 10, "minimum": 1, "maximum": 100}
    body = document["paths"]["/users"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/User"}
    address = document["components"]["schemas"]["Address"]
    assert address["properties"]["zipCode"]["pattern"] == r"^\d{5}$"


def test_importing_carafe_does_not_import_pydantic() -> None:
    code = "import sys, carafe, carafe.views; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_pydantic_metadata_on_parameters_is_validated_by_pydantic() -> None:
    app = Carafe()

    @app.get("/scalars")
    async def scalars(
        n: Annotated[int, pydantic.Field(gt=0)],
        shout: Annotated[str, pydantic.AfterValidator(str.upper)] = "hi",
        small: pydantic.conint(le=5) = 1,  # type: ignore[valid-type]
        code: Annotated[str | None, Query(alias="c"), pydantic.Field(pattern="^[a-z]{2}$")] = None,
    ) -> dict[str, Any]:
        return {"n": n, "shout": shout, "small": small, "code": code}

    @app.post("/tags")
    async def tags(names: list[Annotated[str, pydantic.Field(max_length=3)]]) -> list[str]:
        return names

    with TestClient(app) as client:
        assert client.get("/scalars?n=2&shout=hey&small=5&c=fr").json() == {
            "n": 2,
            "shout": "HEY",
            "small": 5,
            "code": "fr",
        }
        response = client.get("/scalars?n=0&small=6&c=FRA")
        assert response.status_code == 422
        assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
            (["query", "n"], "greater_than"),
            (["query", "small"], "less_than_equal"),
            (["query", "c"], "string_pattern_mismatch"),
        ]
        assert client.post("/tags", json=["abc"]).json() == ["abc"]
        response = client.post("/tags", json=["abcd"])
        assert response.json()["errors"][0]["loc"] == ["body", 0]


def test_pydantic_value_types_are_single_parameters() -> None:
    app = Carafe()

    @app.get("/visit")
    async def visit(
        url: pydantic.HttpUrl,
        token: Annotated[pydantic.SecretStr, Header()],
        mirrors: Annotated[list[pydantic.HttpUrl], Query()] = [],  # noqa: B006
    ) -> dict[str, Any]:
        return {
            "host": url.host,
            "token_length": len(token.get_secret_value()),
            "mirrors": [m.host for m in mirrors],
            "shown": str(token),
        }

    with TestClient(app) as client:
        response = client.get(
            "/visit?url=https://example.org/a&mirrors=http://a.test&mirrors=http://b.test",
            headers={"token": "s3cret"},
        )
        assert response.json() == {
            "host": "example.org",
            "token_length": 6,
            "mirrors": ["a.test", "b.test"],
            "shown": "**********",
        }
        response = client.get("/visit?url=not-a-url&mirrors=ftp:", headers={"token": "x"})
        assert response.status_code == 422
        assert [(e["loc"], e["type"]) for e in response.json()["errors"]] == [
            (["query", "url"], "url_parsing"),
            (["query", "mirrors", 0], "url_parsing"),
        ]
