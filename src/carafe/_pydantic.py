"""The pydantic v2 codec plugin: FastAPI users' models work unchanged.

Loaded by ``carafe._pydantic_plugin`` the first time a type is looked at while pydantic
is imported (each app installs it through its registry). It claims ``BaseModel``
subclasses, pydantic dataclasses and any type that contains one (``list[Item]``,
``Item | None``, ``dict[str, Item]``, a msgspec Struct with a model field such as an
embedded body). Everything pydantic needs (the validator, the ``TypeAdapter``, the
serializer) is looked up once, at startup:

    decode   Item.model_validate_json(body)           (a TypeAdapter for the others)
    convert  Item.model_validate(values)              (query, header and cookie groups)
    encode   Item.__pydantic_serializer__.to_json(v)  when ``v`` already is an ``Item``

A returned value that is not the declared type (a dict, an ORM row, a subclass with
extra fields) is validated ``from_attributes`` first, which drops what the declared
model does not have. Errors come out in Carafe's one shape, ``{"loc", "msg", "type"}``,
with ``loc`` starting where the value came from (``["body", "price"]``).
"""

from __future__ import annotations

import typing
from collections.abc import Callable
from typing import Any, Literal, NamedTuple, get_args, get_origin

import msgspec
from pydantic import BaseModel, Field, TypeAdapter, ValidationError, create_model
from pydantic.dataclasses import is_pydantic_dataclass
from pydantic_core import PydanticSerializationError

from carafe._core import codecs
from carafe.exceptions import ErrorDetail, HTTPError, RequestValidationError

__all__ = ["GroupField", "PydanticPlugin", "group_fields", "is_scalar_type"]

_MAX_DEPTH = 8
_VALIDATION_LIBRARIES = ("pydantic", "annotated_types", "pydantic_core")


def _involves_model(tp: Any, depth: int = 0) -> bool:
    """Whether ``tp`` is, or contains, a pydantic model or pydantic dataclass."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(tp, type):
        if issubclass(tp, BaseModel) or is_pydantic_dataclass(tp) or is_scalar_type(tp):
            return True
        if issubclass(tp, msgspec.Struct):
            try:
                fields = msgspec.structs.fields(tp)
            except (NameError, TypeError):
                return False
            return any(_involves_model(f.type, depth + 1) for f in fields)
        return False
    if get_origin(tp) is typing.Annotated and any(
        type(meta).__module__.split(".")[0] in _VALIDATION_LIBRARIES for meta in tp.__metadata__
    ):
        return True  # Field(gt=0), AfterValidator(...), conint()'s bounds
    return any(_involves_model(arg, depth + 1) for arg in get_args(tp))


def is_scalar_type(tp: Any) -> bool:
    """Whether ``tp`` is one of pydantic's own value types (``HttpUrl``, ``SecretStr``...).

    They are single values, read from the path or query like ``int``, never a body.
    """
    return (
        isinstance(tp, type)
        and hasattr(tp, "__get_pydantic_core_schema__")
        and not issubclass(tp, BaseModel)
        and not is_pydantic_dataclass(tp)
    )


def errors_from(exc: ValidationError, loc: tuple[str | int, ...]) -> list[ErrorDetail]:
    """Pydantic's errors in Carafe's shape, each ``loc`` prefixed with ``loc``."""
    return [
        {"loc": [*loc, *error["loc"]], "msg": error["msg"], "type": error["type"]}
        for error in exc.errors(include_url=False, include_context=False, include_input=False)
    ]


def _raise_for(exc: ValidationError, loc: tuple[str | int, ...]) -> typing.NoReturn:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if errors and errors[0]["type"] == "json_invalid":
        raise HTTPError(400, f"The body is not valid JSON: {errors[0]['msg']}") from None
    raise RequestValidationError(errors_from(exc, loc)) from None


class GroupField(NamedTuple):
    """One field of a model read as a group of query, header or cookie parameters."""

    name: str  # the key the model validates (its alias, if it has one)
    annotation: Any
    required: bool
    default: Any


def group_fields(tp: Any) -> list[GroupField] | None:
    """The fields of pydantic model ``tp``, or None when it is not one."""
    if not (isinstance(tp, type) and issubclass(tp, BaseModel)):
        return None
    found = []
    for name, info in tp.model_fields.items():
        key = info.validation_alias if isinstance(info.validation_alias, str) else None
        key = key or info.alias or name
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        # The constraints (Field(ge=1)) ride along, for the OpenAPI document.
        annotation = (
            typing.Annotated[(info.annotation, *info.metadata)]
            if info.metadata
            else info.annotation
        )
        found.append(GroupField(key, annotation, info.is_required(), default))
    return found


def _mirror(tp: type[msgspec.Struct]) -> tuple[type[BaseModel], list[tuple[str, str]]]:
    """A pydantic model mirroring Struct ``tp`` (whose fields hold pydantic models), built
    once, and ``(struct field, model field)`` name pairs to build the Struct back from it."""
    definitions: dict[str, Any] = {}
    names: list[tuple[str, str]] = []
    for position, field in enumerate(msgspec.structs.fields(tp)):
        slot = f"f{position}"
        if field.required:
            default: Any = Field(alias=field.encode_name)
        elif field.default_factory is not msgspec.NODEFAULT:
            default = Field(default_factory=field.default_factory, alias=field.encode_name)
        else:
            default = Field(default=field.default, alias=field.encode_name)
        definitions[slot] = (field.type, default)
        names.append((field.name, slot))
    return create_model(tp.__name__, **definitions), names


def _struct_as_model(tp: type[msgspec.Struct]) -> Callable[[bytes], msgspec.Struct]:
    """Decode a Struct whose fields hold pydantic models (an embedded body) with pydantic.

    Per request the mirror model validates and the Struct is built from its attributes
    without a second validation.
    """
    mirror, names = _mirror(tp)
    validate = mirror.model_validate_json

    def decode(body: bytes) -> msgspec.Struct:
        model = validate(body)
        return tp(**{name: getattr(model, slot) for name, slot in names})

    return decode


def _struct_encoder(tp: type[msgspec.Struct]) -> codecs.Encoder:
    """Encode as a Struct whose fields hold pydantic models: the Struct itself as it is;
    anything else (a dict, an ORM row) validated and serialized by the mirror model, which
    keeps only the declared fields, of the Struct and of the models in it."""
    mirror, _ = _mirror(tp)
    validate, to_json = mirror.model_validate, mirror.__pydantic_serializer__.to_json

    def encode(value: Any) -> bytes:
        if type(value) is tp:
            return codecs.encode_json(value)
        return to_json(validate(value, from_attributes=True), by_alias=True)

    return encode


class PydanticPlugin:
    """``carafe._core.codecs.CodecPlugin`` for pydantic v2."""

    def claims(self, tp: Any) -> bool:
        return _involves_model(tp)

    def body_decoder(self, tp: Any, loc: tuple[str | int, ...]) -> codecs.Decoder:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            validate: Callable[[bytes], Any] = tp.model_validate_json
        elif isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            validate = _struct_as_model(tp)
        else:
            validate = TypeAdapter(tp).validate_json

        def decode(body: bytes) -> Any:
            try:
                return validate(body)
            except ValidationError as exc:
                _raise_for(exc, loc)

        return decode

    def converter(self, tp: Any, loc: tuple[str | int, ...]) -> codecs.Converter:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            validate: Callable[[Any], Any] = tp.model_validate
        else:
            validate = TypeAdapter(tp).validate_python

        def convert(value: Any) -> Any:
            try:
                return validate(value)
            except ValidationError as exc:
                raise RequestValidationError(errors_from(exc, loc)) from None

        return convert

    def response_encoder(self, tp: Any) -> codecs.Encoder:
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            return _model_encoder(tp)
        if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
            return _struct_encoder(tp)
        return _adapter_encoder(TypeAdapter(tp))

    def model_fields(self, tp: Any) -> list[codecs.ModelField] | None:
        found = group_fields(tp)
        return None if found is None else [codecs.ModelField(*f) for f in found]

    def enc_hook(self, value: Any) -> Any:
        if isinstance(value, BaseModel):
            return value.model_dump(mode="json", by_alias=True)
        raise NotImplementedError

    def json_schema(
        self,
        tp: Any,
        ref_template: str = "#/components/schemas/{model}",
        mode: Literal["validation", "serialization"] = "serialization",
    ) -> Any:
        """The JSON Schema of ``tp`` for the OpenAPI document (``$defs`` for nested models)."""
        return TypeAdapter(tp).json_schema(ref_template=ref_template, mode=mode)


def _model_encoder(tp: type[BaseModel]) -> codecs.Encoder:
    # PERF: an instance of the declared model is serialized in one pass by pydantic-core,
    # with no re-validation (FastAPI validates and dumps every response model; its
    # issue #210). bench/inprocess.py, case post_pydantic.
    to_json = tp.__pydantic_serializer__.to_json
    validate = tp.model_validate

    def encode(value: Any) -> bytes:
        if type(value) is not tp:
            value = validate(value, from_attributes=True)
        return to_json(value, by_alias=True)

    return encode


def _adapter_encoder(adapter: TypeAdapter[Any]) -> codecs.Encoder:
    dump, validate = adapter.dump_json, adapter.validate_python

    def encode(value: Any) -> bytes:
        # NOTE: values of the declared types serialize directly; anything else (dicts,
        # ORM rows) makes the serializer complain, and is then validated (filtered) first.
        try:
            return dump(value, by_alias=True, warnings="error")
        except PydanticSerializationError:
            return dump(validate(value, from_attributes=True), by_alias=True)

    return encode
