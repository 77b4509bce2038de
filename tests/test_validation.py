"""A validation-error shape declared once: what clients receive and what OpenAPI says."""

from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from carafe import Carafe, Router
from carafe.exceptions import ConfigurationError, RequestValidationError
from carafe.testing import TestClient
from carafe.validation import validation_errors


class ConduitErrors(msgspec.Struct):
    errors: dict[str, list[str]]


class NewUser(msgspec.Struct):
    username: str
    email: str


def conduit_app(*, use_async: bool = False) -> Carafe:
    app = Carafe()

    def shape(exc: RequestValidationError) -> ConduitErrors:
        by_field: dict[str, list[str]] = {}
        for error in exc.errors:
            by_field.setdefault(str(error["loc"][-1]), []).append(error["msg"])
        return ConduitErrors(by_field)

    async def shape_async(exc: RequestValidationError) -> ConduitErrors:
        return shape(exc)

    validation_errors(app)(shape_async if use_async else shape)

    @app.post("/users")
    def register(user: NewUser) -> NewUser:
        return user

    @app.get("/articles")
    def articles(limit: int = 20) -> list[str]:
        return []

    @app.get("/ping")
    def ping() -> str:
        return "pong"

    other = Router(prefix="/legacy", responses={422: {"description": "Old shape"}})

    @other.get("/find")
    def find(q: int) -> int:
        return q

    app.include(other)
    return app


@pytest.mark.parametrize("use_async", [False, True])
def test_validation_errors_have_the_declared_shape(use_async: bool) -> None:
    with TestClient(conduit_app(use_async=use_async)) as client:
        response = client.post("/users", json={"username": "ann"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/json"
        (message,) = response.json()["errors"]["email"]
        assert "email" in message or "required" in message.lower()
        bad = client.get("/articles?limit=many")
        assert bad.status_code == 422 and list(bad.json()["errors"]) == ["limit"]
        assert client.get("/ping").text == "pong"


def test_the_declared_shape_is_the_documented_422() -> None:
    with TestClient(conduit_app()) as client:
        document: dict[str, Any] = client.get("/openapi.json").json()
    validate(document)
    paths = document["paths"]
    for path, method in (("/users", "post"), ("/articles", "get")):
        response = paths[path][method]["responses"]["422"]
        assert response["content"] == {
            "application/json": {"schema": {"$ref": "#/components/schemas/ConduitErrors"}}
        }
    assert "422" not in paths["/ping"]["get"]["responses"]
    assert paths["/legacy/find"]["get"]["responses"]["422"]["description"] == "Old shape"
    assert document["components"]["schemas"]["ConduitErrors"]["required"] == ["errors"]


def test_a_shape_needs_a_return_annotation() -> None:
    app = Carafe()

    def unannotated(exc: RequestValidationError):  # type: ignore[no-untyped-def]
        return {}

    def unresolvable(exc: RequestValidationError) -> "Missing":  # type: ignore[name-defined]  # noqa: F821
        return {}

    with pytest.raises(ConfigurationError, match="annotate what"):
        validation_errors(app)(unannotated)
    with pytest.raises(ConfigurationError, match="does not resolve"):
        validation_errors(app)(unresolvable)
