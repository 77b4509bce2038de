"""The OpenAPI document: what /openapi.json says about routes, types, errors and security."""

import json
from pathlib import Path
from typing import Annotated, Any, Generic, TypeVar

import msgspec
import pytest
import schemathesis
from click.testing import CliRunner
from examples.api import app as example_app
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from pydantic import BaseModel

from carafe import (
    Body,
    Carafe,
    Cookie,
    Depends,
    Header,
    HTMLResponse,
    HTTPError,
    PlainTextResponse,
    Query,
    Response,
    Router,
)
from carafe.cli import main
from carafe.forms import File, Form
from carafe.openapi import DocsConfig
from carafe.openapi.components import Components
from carafe.openapi.schema import build_openapi
from carafe.security import APIKeyHeader, HTTPBasic, OAuth2PasswordBearer, Security
from carafe.testing import TestClient
from carafe.uploads import UploadFile
from tests import openapi_models_a as a
from tests import openapi_models_b as b

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T]):
    items: list[T]
    total: int


class User(msgspec.Struct):
    id: Annotated[int, msgspec.Meta(ge=1, examples=[7])]
    nick: str = msgspec.field(name="nickName")


class Conflict(msgspec.Struct):
    reason: str


class Problem(msgspec.Struct):
    """A user's own model that happens to share our error schema's name."""

    code: int


class Signup(msgspec.Struct):
    email: str
    age: int = 0


def document_of(app: Carafe) -> dict[str, Any]:
    with TestClient(app) as client:
        response = client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    document: dict[str, Any] = response.json()
    validate(document)  # openapi-spec-validator: the document is valid OpenAPI 3.1
    return document


def schemas(document: dict[str, Any]) -> dict[str, Any]:
    return document["components"]["schemas"]  # type: ignore[no-any-return]


# --- Operations -----------------------------------------------------------------------


def test_operation_from_route_and_docstring() -> None:
    app = Carafe(title="Shop", version="2.0", description="Things to buy")
    api = Router(prefix="/api", tags=["api"])

    @api.get("/users/{user_id}", tags=["users"])
    async def read_user(user_id: int) -> User:
        """Read one user.

        Users are people.
        They have ids.
        """
        return User(user_id, "x")

    @api.get("/files/{rest:path}", summary="Own summary", description="Own words", deprecated=True)
    async def read_file(rest: str) -> str:
        """Ignored first line."""
        return rest

    @app.route("/both", methods=["GET", "POST"], operation_id="both")
    async def both_ways() -> dict[str, int]:
        return {}

    @app.get("/hidden", include_in_schema=False)
    async def hidden() -> None: ...

    app.include(api)
    document = document_of(app)
    assert document["openapi"] == "3.1.0"
    assert document["info"] == {"title": "Shop", "version": "2.0", "description": "Things to buy"}
    user = document["paths"]["/api/users/{user_id}"]["get"]
    assert user["tags"] == ["api", "users"]
    assert user["summary"] == "Read one user."
    assert user["description"] == "Users are people.\nThey have ids."
    assert user["operationId"] == "read_user"
    assert user["parameters"] == [
        {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"}}
    ]
    files = document["paths"]["/api/files/{rest}"]["get"]
    assert (files["summary"], files["description"], files["deprecated"]) == (
        "Own summary",
        "Own words",
        True,
    )
    assert files["responses"]["200"]["content"] == {"text/plain": {"schema": {"type": "string"}}}
    both = document["paths"]["/both"]
    assert (both["get"]["operationId"], both["post"]["operationId"]) == ("both_get", "both_post")
    assert both["get"]["summary"] == "Both ways"
    assert "/hidden" not in document["paths"]
    # The docs routes themselves are not in the document.
    assert "/openapi.json" not in document["paths"] and "/docs" not in document["paths"]


def test_duplicate_operation_ids_are_made_unique() -> None:
    app = Carafe()
    app.add_route("/a", lambda: None, name="a", operation_id="same")
    app.add_route("/b", lambda: None, name="b", operation_id="same")
    app.add_route("/c", lambda: None, name="c", operation_id="same")
    paths = document_of(app)["paths"]
    assert [paths[p]["get"]["operationId"] for p in ("/a", "/b", "/c")] == [
        "same",
        "same_2",
        "same_3",
    ]


# --- Parameters -----------------------------------------------------------------------


def test_parameters_with_aliases_constraints_examples_and_deprecation() -> None:
    app = Carafe()

    @app.get("/search")
    async def search(
        q: Annotated[str, Query(min_length=2, description="Words", examples=["tea"])],
        page_size: Annotated[int, Query(alias="page-size", ge=1, le=100)] = 20,
        tags: Annotated[list[str], Query()] = [],  # noqa: B006
        old: Annotated[str | None, Query(deprecated=True)] = None,
        secret: Annotated[str | None, Query(include_in_schema=False)] = None,
        user_agent: Annotated[str | None, Header()] = None,
        session: Annotated[str | None, Cookie()] = None,
    ) -> list[str]:
        return []

    parameters = document_of(app)["paths"]["/search"]["get"]["parameters"]
    assert parameters == [
        {
            "name": "q",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "minLength": 2, "examples": ["tea"]},
            "description": "Words",
        },
        {
            "name": "page-size",
            "in": "query",
            "required": False,
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        {
            "name": "tags",
            "in": "query",
            "required": False,
            "schema": {"type": "array", "items": {"type": "string"}, "default": []},
        },
        {
            "name": "old",
            "in": "query",
            "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "deprecated": True,
        },
        {
            "name": "user-agent",
            "in": "header",
            "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
        {
            "name": "session",
            "in": "cookie",
            "required": False,
            "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        },
    ]


def test_parameters_shared_with_a_dependency_are_listed_once() -> None:
    app = Carafe()

    def paging(limit: int = 10) -> int:
        return limit

    @app.get("/items")
    async def items(limit: int = 10, page: int = Depends(paging)) -> int:
        return page

    parameters = document_of(app)["paths"]["/items"]["get"]["parameters"]
    assert [p["name"] for p in parameters] == ["limit"]


# --- Bodies ---------------------------------------------------------------------------


def test_json_bodies_single_embedded_and_examples() -> None:
    app = Carafe()

    @app.post("/users", status_code=201)
    async def create(user: Annotated[User, Body(examples=[{"id": 1, "nickName": "ann"}])]) -> User:
        return user

    @app.post("/pair")
    async def pair(first: User, note: Annotated[str, Body(description="Why")] = "") -> None: ...

    @app.post("/maybe")
    async def maybe(user: User | None = None) -> None: ...

    @app.post("/raw")
    async def raw(
        data: Annotated[dict[str, int], Body(media_type="application/merge-patch+json")],
    ) -> None: ...

    paths = document_of(app)["paths"]
    create_op = paths["/users"]["post"]
    assert create_op["requestBody"] == {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/User"},
                "examples": {"example1": {"value": {"id": 1, "nickName": "ann"}}},
            }
        },
    }
    assert create_op["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/User"
    }
    assert paths["/pair"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "type": "object",
        "properties": {
            "first": {"$ref": "#/components/schemas/User"},
            "note": {"type": "string", "description": "Why", "default": ""},
        },
        "required": ["first"],
    }
    assert paths["/maybe"]["post"]["requestBody"]["required"] is False
    assert list(paths["/raw"]["post"]["requestBody"]["content"]) == ["application/merge-patch+json"]
    # A body can be malformed (400) or invalid (422).
    assert set(create_op["responses"]) == {"201", "400", "422"}


def test_form_and_file_bodies() -> None:
    app = Carafe()

    @app.post("/login")
    async def login(
        username: Annotated[str, Form()], remember: Annotated[bool, Form()] = False
    ) -> None: ...

    @app.post("/upload")
    async def upload(
        title: Annotated[str, Form(max_length=50)],
        picture: UploadFile,
        extra: Annotated[list[UploadFile], File()] = [],  # noqa: B006
        note: UploadFile | None = None,
    ) -> None: ...

    @app.post("/signup")
    async def signup(form: Annotated[Signup, Form()]) -> None: ...

    paths = document_of(app)["paths"]
    assert paths["/login"]["post"]["requestBody"] == {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "username": {"type": "string"},
                        "remember": {"type": "boolean", "default": False},
                    },
                    "required": ["username"],
                }
            }
        },
    }
    binary = {"type": "string", "format": "binary"}
    multipart = paths["/upload"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert multipart["schema"]["properties"] == {
        "title": {"type": "string", "maxLength": 50},
        "picture": binary,
        "extra": {"type": "array", "items": binary, "default": []},
        "note": {"anyOf": [binary, {"type": "null"}]},
    }
    assert multipart["schema"]["required"] == ["title", "picture"]
    model_form = paths["/signup"]["post"]["requestBody"]["content"]
    assert model_form == {
        "application/x-www-form-urlencoded": {"schema": {"$ref": "#/components/schemas/Signup"}}
    }


# --- Responses ------------------------------------------------------------------------


def test_several_responses_per_route() -> None:
    app = Carafe()

    @app.get(
        "/users/{user_id}",
        responses={
            200: {"description": "The user", "example": {"id": 1, "nickName": "ann"}},
            404: {"description": "No such user"},
            409: {"model": Conflict, "description": "Busy"},
            "5XX": {"description": "Server trouble"},
            302: {"description": "Moved", "headers": {"Location": {"schema": {"type": "string"}}}},
        },
    )
    async def read_user(user_id: int) -> User:
        raise HTTPError(404)

    responses = document_of(app)["paths"]["/users/{user_id}"]["get"]["responses"]
    assert list(responses) == ["200", "302", "404", "409", "422", "5XX"]
    assert responses["200"] == {
        "description": "The user",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/User"},
                "example": {"id": 1, "nickName": "ann"},
            }
        },
    }
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    assert responses["404"] == {"description": "No such user", "content": problem}
    assert responses["409"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Conflict"
    }
    assert responses["5XX"] == {"description": "Server trouble", "content": problem}
    assert responses["302"] == {
        "description": "Moved",
        "headers": {"Location": {"schema": {"type": "string"}}},
    }
    assert responses["422"]["content"] == {
        "application/problem+json": {"schema": {"$ref": "#/components/schemas/ValidationProblem"}}
    }


def test_response_media_types() -> None:
    app = Carafe()

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<p>hi</p>"

    @app.get("/text")
    async def text() -> PlainTextResponse:
        return PlainTextResponse("hi")

    @app.get("/bytes")
    async def blob() -> bytes:
        return b""

    @app.delete("/gone", status_code=204)
    async def gone() -> None: ...

    @app.get("/untyped")
    async def untyped():  # type: ignore[no-untyped-def]
        return {}

    @app.get("/model", response_model=list[User])
    async def model() -> Any:
        return []

    @app.get("/page-or-user")
    async def page_or_user() -> HTMLResponse | User:
        return User(1)

    @app.get("/page-or-nothing")
    async def page_or_nothing() -> HTMLResponse | None:
        return None

    paths = document_of(app)["paths"]
    assert paths["/page"]["get"]["responses"]["200"]["content"] == {
        "text/html": {"schema": {"type": "string"}}
    }
    assert paths["/text"]["get"]["responses"]["200"]["content"] == {
        "text/plain": {"schema": {"type": "string"}}
    }
    assert paths["/bytes"]["get"]["responses"]["200"]["content"] == {
        "application/octet-stream": {"schema": {}}
    }
    assert paths["/gone"]["delete"]["responses"] == {"204": {"description": "No Content"}}
    assert paths["/untyped"]["get"]["responses"] == {"200": {"description": "OK"}}
    assert paths["/model"]["get"]["responses"]["200"]["content"]["application/json"] == {
        "schema": {"type": "array", "items": {"$ref": "#/components/schemas/User"}}
    }
    assert paths["/page-or-user"]["get"]["responses"]["200"]["content"]["application/json"] == {
        "schema": {"$ref": "#/components/schemas/User"}  # a Response is not the model
    }
    assert paths["/page-or-nothing"]["get"]["responses"] == {"200": {"description": "OK"}}


def test_problem_schemas_match_what_errors_send() -> None:
    app = Carafe()

    @app.get("/n")
    async def number(n: int) -> int:
        return n

    document = document_of(app)
    with TestClient(app) as client:
        body = client.get("/n", params={"n": "x"}).json()
    problem = schemas(document)["ValidationProblem"]
    assert set(problem["required"]) == set(body)
    error = schemas(document)["ValidationError"]
    assert set(error["required"]) == set(body["errors"][0])


# --- Components -----------------------------------------------------------------------


def test_component_names_stay_unique() -> None:
    app = Carafe()

    @app.get("/a")
    async def get_a() -> a.Item:
        return a.Item("x", 1)

    @app.get("/b")
    async def get_b() -> b.Item:
        return b.Item("x")

    @app.get("/users")
    async def users() -> Page[User]:
        return Page([], 0)

    @app.post("/problem")
    async def problem(p: Problem) -> None: ...

    document = document_of(app)
    names = schemas(document)
    assert {"tests.openapi_models_a.Item", "tests.openapi_models_b.Item", "Page_User_"} <= set(
        names
    )
    assert names["tests.openapi_models_a.Item"]["properties"] == {
        "name": {"type": "string"},
        "price": {"type": "number"},
    }
    assert names["Page_User_"]["properties"]["items"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/User"},
    }
    # Aliases: the wire name, and the constraints and examples of the field.
    assert names["User"]["properties"] == {
        "id": {"type": "integer", "minimum": 1, "examples": [7]},
        "nickName": {"type": "string"},
    }
    # Our error schema keeps its name; the user's model of the same name is qualified.
    assert names["Problem"]["title"] == "Problem" and "detail" in names["Problem"]["properties"]
    body = document["paths"]["/problem"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"] == {"$ref": "#/components/schemas/tests.test_openapi.Problem"}
    assert names["tests.test_openapi.Problem"]["properties"] == {"code": {"type": "integer"}}


def test_generics_of_two_same_named_models() -> None:
    app = Carafe()

    @app.get("/a")
    async def page_a() -> Page[a.Item]:
        return Page([], 0)

    @app.get("/b")
    async def page_b() -> Page[b.Item]:
        return Page([], 0)

    document = document_of(app)
    refs = [
        document["paths"][p]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        for p in ("/a", "/b")
    ]
    assert refs[0] != refs[1]
    first, second = (ref["$ref"].rsplit("/", 1)[1] for ref in refs)
    item_refs = {
        schemas(document)[name]["properties"]["items"]["items"]["$ref"] for name in (first, second)
    }
    assert len(item_refs) == 2  # each page points at its own Item


def test_pydantic_models() -> None:
    class Address(BaseModel):
        city: str

    class Person(BaseModel):
        name: str
        address: Address

    app = Carafe()

    @app.post("/people")
    async def create(person: Person) -> Person:
        return person

    @app.get("/reviews")
    async def reviews() -> list[a.Review]:
        return []

    @app.get("/other-reviews")
    async def other_reviews() -> b.Review:
        return b.Review(stars=1)

    @app.get("/item")
    async def msgspec_item() -> a.Item:
        return a.Item("x", 1)

    document = document_of(app)
    names = schemas(document)
    assert names["Person"]["properties"]["address"] == {"$ref": "#/components/schemas/Address"}
    assert names["Address"]["required"] == ["city"]
    reviews_schema = document["paths"]["/reviews"]["get"]["responses"]["200"]["content"]
    assert reviews_schema["application/json"]["schema"] == {
        "type": "array",
        "items": {"$ref": "#/components/schemas/Review"},
    }
    other = document["paths"]["/other-reviews"]["get"]["responses"]["200"]["content"]
    other_name = other["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert other_name == "tests.openapi_models_b.Review"
    assert names[other_name]["properties"]["stars"]["type"] == "number"


def test_types_without_a_schema_get_an_empty_one() -> None:
    class Opaque:
        pass

    registry = Components()
    registry.add(Opaque)
    registry.add(int)
    registry.add(int)
    registry.generate()
    assert registry.schema(Opaque) == {}
    assert registry.schema(int) == {"type": "integer"}
    assert registry.schema(str) == {}  # never added


def test_a_plugin_that_cannot_describe_a_type() -> None:
    class Weird(BaseModel):
        model_config = {"arbitrary_types_allowed": True}
        value: Any

    class Unschematic(BaseModel):
        model_config = {"arbitrary_types_allowed": True}
        thing: type

    registry = Components()
    registry.add(Unschematic)
    registry.add(Weird)
    registry.generate()
    assert registry.schema(Unschematic) == {}
    assert registry.schema(Weird) == {"$ref": "#/components/schemas/Weird"}


# --- Security -------------------------------------------------------------------------

oauth2 = OAuth2PasswordBearer("/token", {"read": "Read things", "write": "Write things"})
basic = HTTPBasic(description="Staff only")
key = APIKeyHeader("X-Key", auto_error=False)
other_key = APIKeyHeader("X-Other", scheme_name="APIKeyHeader")


async def reader(token: str = Depends(oauth2)) -> str:
    return token


def test_security_schemes_and_requirements() -> None:
    app = Carafe()

    @app.get("/read")
    async def read(user: Annotated[str, Security(reader, scopes=["read"])]) -> str:
        return user

    @app.get("/both")
    async def both(
        user: Annotated[str, Security(reader, scopes=["read", "write"])],
        staff: Annotated[Any, Depends(basic)],
    ) -> str:
        return user

    @app.get("/optional")
    async def optional(k: str | None = Depends(key)) -> None: ...

    @app.get("/other")
    async def other(k: str = Depends(other_key)) -> None: ...

    @app.get("/open")
    async def public() -> None: ...

    document = document_of(app)
    assert document["components"]["securitySchemes"] == {
        "OAuth2PasswordBearer": {
            "type": "oauth2",
            "flows": {
                "password": {
                    "tokenUrl": "/token",
                    "scopes": {"read": "Read things", "write": "Write things"},
                }
            },
        },
        "HTTPBasic": {"type": "http", "scheme": "basic", "description": "Staff only"},
        "APIKeyHeader": {"type": "apiKey", "in": "header", "name": "X-Key"},
        "APIKeyHeader2": {"type": "apiKey", "in": "header", "name": "X-Other"},
    }
    paths = document["paths"]
    assert paths["/read"]["get"]["security"] == [{"OAuth2PasswordBearer": ["read"]}]
    assert paths["/both"]["get"]["security"] == [
        {"OAuth2PasswordBearer": ["read", "write"], "HTTPBasic": []}
    ]
    assert paths["/optional"]["get"]["security"] == [{"APIKeyHeader": []}, {}]
    assert paths["/other"]["get"]["security"] == [{"APIKeyHeader2": []}]
    assert "security" not in paths["/open"]["get"]
    assert "401" in paths["/read"]["get"]["responses"]
    assert "401" not in paths["/optional"]["get"]["responses"]


# --- The document as served -----------------------------------------------------------


def test_document_options_root_path_and_caching() -> None:
    config = DocsConfig(
        tags=[{"name": "items", "description": "Things"}],
        info={"contact": {"name": "Ann"}},
    )
    app = Carafe(docs=config)

    def dependency() -> int:
        return 1

    @app.get("/items", tags=["items"])
    async def items(n: int = Depends(dependency)) -> int:
        return n

    with TestClient(app) as client:
        first = client.get("/openapi.json")
        assert first.content is not None
        assert client.get("/openapi.json").content == first.content
        document = first.json()
        assert document["tags"] == [{"name": "items", "description": "Things"}]
        assert document["info"]["contact"] == {"name": "Ann"}
        assert "servers" not in document

        def replacement(limit: int = 5) -> int:
            return limit

        app.dependency_overrides[dependency] = replacement
        again = client.get("/openapi.json").json()
        assert again["paths"]["/items"]["get"]["parameters"][0]["name"] == "limit"

    with TestClient(app, root_path="/shop") as client:
        assert client.get("/openapi.json").json()["servers"] == [{"url": "/shop"}]

    custom = Carafe(docs=DocsConfig(servers=[{"url": "https://api.example.com"}]))
    assert document_of(custom)["servers"] == [{"url": "https://api.example.com"}]


def test_build_openapi_directly() -> None:
    app = Carafe(docs=None)

    @app.get("/")
    async def index() -> dict[str, str]:
        return {}

    document = build_openapi(app)
    validate(document)
    assert list(document["paths"]) == ["/"]


# --- The command line -----------------------------------------------------------------


def test_cli_prints_the_document(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["openapi", "examples.api:app"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == json.loads(json.dumps(build_openapi(example_app)))
    compact = runner.invoke(main, ["openapi", "examples.api:app", "--indent", "0"])
    assert "\n" not in compact.output.strip()
    target = tmp_path / "openapi.json"
    written = runner.invoke(main, ["openapi", "examples.api:app", "-o", str(target)])
    assert written.exit_code == 0 and written.output == ""
    validate(json.loads(target.read_text()))


def test_cli_reports_a_broken_app() -> None:
    result = CliRunner().invoke(main, ["openapi", "tests.test_openapi:broken"])
    assert result.exit_code == 1
    assert "has {item_id} but no parameter" in result.output


broken = Carafe()


@broken.get("/items/{item_id}")
async def _broken_handler() -> None: ...


# --- The example app under schemathesis -----------------------------------------------


def test_example_app_document_is_valid() -> None:
    document = document_of(example_app)
    assert document["paths"]["/items/search/legacy"]["get"]["deprecated"] is True
    assert document["paths"]["/items/{item_id}"]["delete"]["security"] == [
        {"OAuth2PasswordBearer": ["items:write"]}
    ]


# schemathesis generates requests from the document (valid and invalid ones) and checks
# every response: no 5xx, the status is documented, the body fits the documented schema.
fuzzed = schemathesis.openapi.from_asgi("/openapi.json", example_app)
fuzzed.config.generation.update(max_examples=25, deterministic=True, database="none")


@pytest.mark.slow
@fuzzed.parametrize()
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_schemathesis_finds_no_server_error_and_no_schema_violation(
    case: Any, example_api_state: None
) -> None:
    case.call_and_validate()  # its items are dropped afterwards (a "biscuit" is found by ?q=cu)


def test_one_pydantic_model_that_reads_and_writes_differently() -> None:
    from pydantic import computed_field

    class Box(BaseModel):
        width: int
        height: int

        @computed_field  # type: ignore[prop-decorator]
        @property
        def area(self) -> int:
            return self.width * self.height

    app = Carafe()

    @app.post("/boxes")
    async def create(box: Box) -> Box:
        return box

    document = document_of(app)
    operation = document["paths"]["/boxes"]["post"]
    sent = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    received = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert sent == "#/components/schemas/Box"
    assert received == "#/components/schemas/Box-Output"
    assert "area" not in schemas(document)["Box"]["properties"]
    assert "area" in schemas(document)["Box-Output"]["properties"]


def test_defaults_and_metadata_that_are_not_json() -> None:
    app = Carafe()
    sentinel = object()

    @app.get("/odd")
    async def odd(
        tag: Annotated[Any, Query()] = sentinel,
        meta: Annotated[int, {"not": "hashable"}] = 1,
    ) -> None: ...

    @app.post("/form")
    async def form(a: Annotated[str | None, Form()] = None) -> None: ...

    document = document_of(app)
    parameters = document["paths"]["/odd"]["get"]["parameters"]
    assert parameters[0]["schema"] == {}
    assert parameters[1]["schema"] == {"type": "integer", "default": 1}
    body = document["paths"]["/form"]["post"]["requestBody"]
    assert body["required"] is False
    assert "required" not in body["content"]["application/x-www-form-urlencoded"]["schema"]


def test_numbered_names_when_nothing_else_is_free() -> None:
    registry = Components()
    registry.add_component("Thing", {"type": "string"})
    registry.add_component("tests.test_openapi.Thing", {"type": "number"})
    registry.add_component("Thing2", {"type": "boolean"})
    registry.add(Thing)
    unhashable = Annotated[int, {"not": "hashable"}]
    registry.add(unhashable)
    registry.generate()
    assert registry.schema(Thing) == {"$ref": "#/components/schemas/Thing3"}
    assert registry.schema(unhashable) == {"type": "integer"}


class Thing(msgspec.Struct):
    n: int


def test_a_source_registered_by_an_extension_is_left_out() -> None:
    from carafe.extensions import Registry
    from carafe.params import Param

    class Packed(Param):
        source = "test-openapi-packed"

    def builder(group: list[Any]) -> Any:
        async def extract(request: Any) -> dict[str, Any]:
            return {info.name: None for info in group}

        return extract

    class PackedExtension:
        def install(self, registry: Registry) -> None:
            registry.body_reader(Packed.source, builder)

    app = Carafe(extensions=[PackedExtension()])

    @app.post("/packed")
    async def packed(data: Annotated[dict[str, int], Packed()]) -> None: ...

    operation = document_of(app)["paths"]["/packed"]["post"]
    assert "requestBody" not in operation and "parameters" not in operation


# --- Responses and tags shared by routers and the app ---------------------------------


class ConduitErrors(msgspec.Struct):
    errors: dict[str, list[str]]


def test_responses_declared_once_for_an_app_and_its_routers() -> None:
    app = Carafe(responses={422: {"model": ConduitErrors}, 500: {"description": "Oops"}})
    api = Router(prefix="/api", responses={404: {"description": "Not found"}})
    inner = Router(prefix="/items", responses={404: {"description": "No such item"}})
    guard = APIKeyHeader(name="X-Key")

    @inner.get("/{item_id}", responses={500: {"description": "Storage down"}})
    def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @api.get("/ping")
    def ping() -> str:
        return "pong"

    @api.post("/secret", responses={401: {"description": "Bad key"}})
    def secret(key: Annotated[str, Depends(guard)]) -> str:
        return key

    api.include(inner)
    app.include(api)
    paths = document_of(app)["paths"]
    item = paths["/api/items/{item_id}"]["get"]["responses"]
    assert item["404"]["description"] == "No such item"  # the nearest router wins
    assert item["500"]["description"] == "Storage down"  # the route's own entry wins
    assert item["422"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ConduitErrors"
    }
    ping_responses = paths["/api/ping"]["get"]["responses"]
    assert ping_responses["404"]["description"] == "Not found"
    assert ping_responses["500"]["description"] == "Oops"
    assert "422" not in ping_responses  # it reads no input: it cannot answer 422
    assert paths["/api/secret"]["post"]["responses"]["401"]["description"] == "Bad key"
    with TestClient(app) as client:
        assert client.get("/api/items/x").status_code == 422


def test_a_shared_401_replaces_carafes_on_secured_routes_only() -> None:
    app = Carafe(responses={401: {"description": "Log in first", "model": ConduitErrors}})
    guard = APIKeyHeader(name="X-Key")

    @app.get("/open")
    def open_route() -> str:
        return "open"

    @app.get("/closed")
    def closed(key: Annotated[str, Depends(guard)]) -> str:
        return key

    paths = document_of(app)["paths"]
    assert "401" not in paths["/open"]["get"]["responses"]
    assert paths["/closed"]["get"]["responses"]["401"]["description"] == "Log in first"


def test_nested_router_tags_are_listed_once() -> None:
    app = Carafe()
    api = Router(prefix="/api", tags=["api"])
    articles = Router(prefix="/articles", tags=["api", "articles", "articles"])

    @articles.get("", tags=["articles", "feed", "feed"])
    def feed() -> list[str]:
        return []

    api.include(articles)
    app.include(api)
    operation = document_of(app)["paths"]["/api/articles"]["get"]
    assert operation["tags"] == ["api", "articles", "feed"]


def test_document_tags_are_listed_once_by_name() -> None:
    tags = [{"name": "api", "description": "The API"}, {"name": "x"}, {"name": "api"}]
    app = Carafe(docs=DocsConfig(tags=tags))
    assert document_of(app)["tags"] == [{"name": "api", "description": "The API"}, {"name": "x"}]


def test_content_left_empty_documents_a_response_without_a_body() -> None:
    app = Carafe()

    @app.delete("/items/{item_id}", responses={200: {"description": "Gone", "content": {}}})
    def delete_item(item_id: int) -> Response:
        return Response(status_code=200)

    documented = document_of(app)["paths"]["/items/{item_id}"]["delete"]["responses"]["200"]
    assert documented == {"description": "Gone"}  # no content: no body, as sent
    with TestClient(app) as client:
        answer = client.delete("/items/1")
    assert (answer.status_code, answer.content) == (200, b"")


def test_returning_none_is_documented_as_the_null_it_sends() -> None:
    app = Carafe()

    @app.post("/pings")
    def ping() -> None:
        return None

    @app.delete("/pings/{ping_id}", status_code=204)
    def forget(ping_id: int) -> None:
        return None

    paths = document_of(app)["paths"]
    assert paths["/pings"]["post"]["responses"]["200"]["content"] == {
        "application/json": {"schema": {"type": "null"}}
    }
    assert "content" not in paths["/pings/{ping_id}"]["delete"]["responses"]["204"]
    with TestClient(app) as client:
        assert client.post("/pings").content == b"null"
        assert client.delete("/pings/1").content == b""
