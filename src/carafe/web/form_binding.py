"""Binding a submitted form to a typed model, keeping every field's error for the page.

``Annotated[Profile, Form()]`` binds a form the way a JSON body binds, and a bad form is
a 422 before the handler runs: right for APIs. A page wants the other way round: show
the form again, filled in, with a message next to each wrong field (what Flask-WTF's
``validate_on_submit`` does). ``bind_form`` does that::

    @app.post("/profile")
    async def save_profile(request: Request, session: Session) -> Response:
        form = bind_form(Profile, await request.form())
        if not form.ok:
            return await templates.render(request, "profile.html", form=form, status_code=422)
        save(form.value)
        flash(session, "Profile saved.", "success")
        return RedirectResponse("/profile", 303)

    {# profile.html #}
    <input name="email" value="{{ form.data.email }}">
    {% if form.errors.email %}<p class="error">{{ form.errors.email }}</p>{% endif %}

Each field is checked on its own, so the page shows every wrong field at once, not the
first one. Models: msgspec Structs, dataclasses and pydantic models.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Mapping
from typing import Any, Generic, TypeVar, get_args, get_origin

import msgspec

from carafe._core import codecs

__all__ = ["BoundForm", "bind_form"]

T = TypeVar("T")

_FieldSpec = tuple[str, Any, bool]  # (name, type, required)

# msgspec's messages, reworded for people filling in a form: (pattern, message).
_MESSAGES: list[tuple[str, str]] = [
    (r"Expected `str` of length >= (\d+)", "Use at least {0} characters."),
    (r"Expected `str` of length <= (\d+)", "Use at most {0} characters."),
    (r"Expected `str` matching regex", "This is not in the expected format."),
    (r"Expected `int(?: \| null)?`, got", "Enter a whole number."),
    (r"Expected `float(?: \| null)?`, got", "Enter a number."),
    (r"Expected `bool(?: \| null)?`, got", "Choose yes or no."),
    (r"Expected `(?:int|float)` >= (\S+)", "Enter {0} or more."),
    (r"Expected `(?:int|float)` <= (\S+)", "Enter {0} or less."),
    (r"Expected `(?:int|float)` > (\S+)", "Enter more than {0}."),
    (r"Expected `(?:int|float)` < (\S+)", "Enter less than {0}."),
    (r"Invalid enum value", "Choose one of the options."),
]


@functools.cache
def _patterns() -> list[tuple[re.Pattern[str], str]]:
    # NOTE: compiled on first use, not at import: ``import carafe`` stays cheap.
    return [(re.compile(pattern), message) for pattern, message in _MESSAGES]


def friendly(message: str) -> str:
    """A validation message as a person filling in a form would want it.

    >>> friendly("Expected `str` of length >= 8")
    'Use at least 8 characters.'
    """
    for pattern, friendly_message in _patterns():
        found = pattern.search(message)
        if found:
            return friendly_message.format(*found.groups())
    return message


@dataclasses.dataclass(slots=True)
class BoundForm(Generic[T]):
    """The outcome of ``bind_form``.

    Attributes:
        value: The model instance, or None when a field is wrong.
        errors: One message per wrong field name (``""`` for the form as a whole).
        data: The submitted text by field name, to fill the form in again.
    """

    value: T | None
    errors: dict[str, str]
    data: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.value is not None and not self.errors


def _field_specs(model: Any) -> list[_FieldSpec] | None:
    if not (isinstance(model, type) and issubclass(model, msgspec.Struct)) and not (
        dataclasses.is_dataclass(model)
    ):
        return None
    fields = codecs.model_fields(model)
    return None if fields is None else [(f.key, f.type, f.required) for f in fields]


def _is_list(tp: Any) -> bool:
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return get_origin(tp) in (list, set, tuple, frozenset)


def _values(form: Any, specs: list[_FieldSpec] | None) -> dict[str, Any]:
    """The submitted values: lists for list fields, blank text left out of non-text ones."""
    getlist = getattr(form, "getlist", None)
    values: dict[str, Any] = {}
    names = [name for name, _, _ in specs] if specs is not None else list(form)
    types = {name: tp for name, tp, _ in specs or ()}
    for name in names:
        if name not in form:
            continue
        tp = types.get(name, str)
        if _is_list(tp):
            values[name] = [v for v in (getlist(name) if getlist else form[name]) if v != ""]
            continue
        value = form.get(name) if hasattr(form, "get") else form[name]
        if isinstance(value, str) and value == "" and tp is not str:
            continue  # an empty optional number is "not given", as in JSON
        values[name] = value
    return values


def bind_form(model: type[T], form: Mapping[str, Any] | Any) -> BoundForm[T]:
    """Check ``form`` (``await request.form()``, or any mapping) against ``model``.

    Args:
        model: A msgspec Struct, dataclass or pydantic model.
        form: The submitted fields.

    Returns:
        A ``BoundForm``: ``value`` on success, else ``errors`` by field, and ``data``.
    """
    specs = _field_specs(model)
    values = _values(form, specs)
    data = {k: v for k, v in values.items() if isinstance(v, (str, list))}
    if specs is None:
        return _bind_other(model, values, data)
    errors: dict[str, str] = {}
    converted: dict[str, Any] = {}
    for name, tp, required in specs:
        if name not in values:
            if required:
                errors[name] = "This field is required."
            continue
        try:
            converted[name] = msgspec.convert(values[name], tp, strict=False)
        except msgspec.ValidationError as exc:
            errors[name] = friendly(str(exc))
    if errors:
        return BoundForm(None, errors, data)
    try:
        value = msgspec.convert(converted, model, strict=False)
    except (msgspec.ValidationError, ValueError, TypeError) as exc:  # __post_init__ checks
        return BoundForm(None, {"": friendly(str(exc))}, data)
    return BoundForm(value, {}, data)


def _bind_other(model: Any, values: dict[str, Any], data: dict[str, Any]) -> BoundForm[Any]:
    validate = getattr(model, "model_validate", None)
    if validate is None:
        raise TypeError(
            f"bind_form needs a msgspec Struct, dataclass or pydantic model, not {model!r}"
        )
    from pydantic import ValidationError

    try:
        return BoundForm(validate(values), {}, data)
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for error in exc.errors():
            field = str(error["loc"][0]) if error["loc"] else ""
            errors.setdefault(
                field, "This field is required." if error["type"] == "missing" else error["msg"]
            )
        return BoundForm(None, errors, data)
