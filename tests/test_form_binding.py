"""bind_form: a form to a typed model, with every wrong field's message for the page."""

from __future__ import annotations

import dataclasses
from typing import Annotated

import msgspec
import pydantic
import pytest

from carafe import Carafe, Request
from carafe.forms import FormData
from carafe.testing import TestClient
from carafe.web.form_binding import BoundForm, bind_form, friendly


class Order(msgspec.Struct):
    item: Annotated[str, msgspec.Meta(min_length=2, max_length=10)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=5)]
    price: float = 1.0
    gift: bool = False
    tags: list[str] = []
    note: str = ""

    def __post_init__(self) -> None:
        if self.item == "ban":
            raise ValueError("That item cannot be ordered.")


@dataclasses.dataclass
class Contact:
    name: str
    age: int | None = None
    topics: list[str] = dataclasses.field(default_factory=list)


class Signup(pydantic.BaseModel):
    email: str = pydantic.Field(min_length=3)
    age: int


def test_a_good_form_binds_to_the_model() -> None:
    form = FormData(
        [
            ("item", "tea"),
            ("quantity", "2"),
            ("price", "2.5"),
            ("gift", "true"),
            ("tags", "a"),
            ("tags", ""),
            ("tags", "b"),
            ("note", ""),
            ("extra", "ignored"),
        ]
    )
    bound = bind_form(Order, form)
    assert bound.ok
    assert bound.value == Order("tea", 2, 2.5, True, ["a", "b"], "")
    assert bound.data["item"] == "tea"


def test_every_wrong_field_gets_its_message() -> None:
    bound = bind_form(Order, {"item": "x", "quantity": "9", "price": "cheap", "gift": "maybe"})
    assert not bound.ok
    assert bound.value is None
    assert bound.errors == {
        "item": "Use at least 2 characters.",
        "quantity": "Enter 5 or less.",
        "price": "Enter a number.",
        "gift": "Choose yes or no.",
    }
    assert bind_form(Order, {"item": "tea"}).errors == {"quantity": "This field is required."}
    assert bind_form(Order, {"item": "tea", "quantity": ""}).errors == {
        "quantity": "This field is required."
    }


def test_model_level_checks_are_form_errors() -> None:
    bound = bind_form(Order, {"item": "ban", "quantity": "1"})
    assert bound.errors == {"": "That item cannot be ordered."}


def test_dataclasses_and_pydantic_models() -> None:
    contact = bind_form(Contact, FormData([("name", "Ann"), ("age", ""), ("topics", "tea")]))
    assert contact.value == Contact("Ann", None, ["tea"])
    assert bind_form(Contact, {"age": "old"}).errors == {
        "name": "This field is required.",
        "age": "Enter a whole number.",
    }
    assert bind_form(Signup, {"email": "a@b.c", "age": "3"}).value == Signup(email="a@b.c", age=3)
    errors = bind_form(Signup, {"email": "a"}).errors
    assert errors["age"] == "This field is required."
    assert "at least 3" in errors["email"]


def test_other_types_are_refused() -> None:
    with pytest.raises(TypeError, match="Struct, dataclass or pydantic"):
        bind_form(dict, {})  # type: ignore[arg-type]


def test_friendly_messages() -> None:
    assert friendly("Expected `str` of length <= 3") == "Use at most 3 characters."
    assert friendly("Expected `str` matching regex '^a$'") == "This is not in the expected format."
    assert friendly("Expected `int` > 0") == "Enter more than 0."
    assert friendly("Expected `float` < 1.5") == "Enter less than 1.5."
    assert friendly("Expected `int` >= 1") == "Enter 1 or more."
    assert friendly("Invalid enum value 'x'") == "Choose one of the options."
    assert friendly("Something else") == "Something else"


def test_a_page_re_renders_with_errors() -> None:
    app = Carafe()

    @app.post("/order")
    async def order(request: Request) -> dict[str, object]:
        bound: BoundForm[Order] = bind_form(Order, await request.form())
        if not bound.ok:
            return {"errors": bound.errors, "data": bound.data}
        return {"ordered": bound.value.item if bound.value else None}

    with TestClient(app) as client:
        assert client.post("/order", data={"item": "tea", "quantity": "1"}).json() == {
            "ordered": "tea"
        }
        answer = client.post("/order", data={"item": "<b>", "quantity": "0"}).json()
        assert answer == {
            "errors": {"quantity": "Enter 1 or more."},
            "data": {"item": "<b>", "quantity": "0"},
        }
