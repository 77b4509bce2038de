"""Typed decoding, validation and encoding: msgspec by default, other model libraries as plugins.

Every function here runs at startup and returns a callable for the request path, so
per-request work is one call into msgspec's C code. Errors come out in one shape,
``{"loc": [...], "msg": ..., "type": ...}``, whichever library found them.

Model libraries plug in as ``CodecPlugin``s through an app's registry
(``carafe.extensions``): every factory here takes the app's plugin list (None: the
default one, pydantic's, which loads ``carafe._pydantic`` only once pydantic is imported).
"""

from __future__ import annotations

import collections.abc
import dataclasses
import functools
import types
import typing
import uuid
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeAlias, get_args, get_origin, is_typeddict

import msgspec

from carafe.exceptions import ConfigurationError, ErrorDetail, HTTPError, RequestValidationError

__all__ = [
    "CodecPlugin",
    "body_decoder",
    "encode_json",
    "is_model",
    "json_encoder",
    "param_converter",
    "response_encoder",
]

Converter: TypeAlias = Callable[[Any], Any]
Decoder: TypeAlias = Callable[[bytes], Any]
Encoder: TypeAlias = Callable[[Any], bytes]


class CodecPlugin(Protocol):
    """What a model library plugs in: it claims types and builds the callables for them."""

    def claims(self, tp: Any) -> bool: ...

    def body_decoder(self, tp: Any, loc: tuple[str | int, ...]) -> Decoder: ...

    def converter(self, tp: Any, loc: tuple[str | int, ...]) -> Converter: ...

    def response_encoder(self, tp: Any) -> Encoder: ...

    def enc_hook(self, value: Any) -> Any: ...

    def model_fields(self, tp: Any) -> list[ModelField] | None: ...


class ModelField(NamedTuple):
    """One field of a model type, as requests name it."""

    key: str  # the name on the wire (an alias, a Struct's rename)
    type: Any  # with its ``Annotated`` constraints
    required: bool
    default: Any


Plugins: TypeAlias = "Sequence[CodecPlugin] | None"


def _default_plugins() -> tuple[CodecPlugin, ...]:
    """The plugins used outside an app's registry (``JSONResponse``, the OpenAPI
    builder's defaults): pydantic's, which stays asleep until pydantic is imported."""
    from carafe._pydantic_plugin import PYDANTIC

    return (PYDANTIC,)


def _plugin_for(tp: Any, plugins: Plugins = None) -> CodecPlugin | None:
    for plugin in _default_plugins() if plugins is None else plugins:
        if plugin.claims(tp):
            return plugin
    return None


def _enc_hook_over(plugins: Sequence[CodecPlugin]) -> Callable[[Any], Any]:
    def enc_hook(value: Any) -> Any:
        for plugin in plugins:
            try:
                return plugin.enc_hook(value)
            except NotImplementedError:
                continue
        raise NotImplementedError(f"Objects of type {type(value).__name__} are not JSON encodable")

    return enc_hook


@functools.lru_cache(maxsize=64)
def _encoder_for(plugins: tuple[CodecPlugin, ...]) -> msgspec.json.Encoder:
    return msgspec.json.Encoder(enc_hook=_enc_hook_over(plugins))


def json_encoder(plugins: Plugins = None) -> Encoder:
    """``encode(value) -> bytes`` for any JSON-able value, the plugins' models included."""
    return _encoder_for(_default_plugins() if plugins is None else tuple(plugins)).encode


_encoder = _encoder_for(_default_plugins())
_enc_hook = _encoder.enc_hook
encode_json: Encoder = _encoder.encode
"""Encode any JSON-able value (dicts, lists, Structs, dataclasses, models) to bytes."""


# --- What a type is -------------------------------------------------------------------


def model_fields(tp: Any, plugins: Plugins = None) -> list[ModelField] | None:
    """The fields of a model type (Struct, dataclass, TypedDict, a plugin's model), or
    None when ``tp`` is none: what parameter groups, forms and form binding read.

    >>> class Item(msgspec.Struct): name: str; price: float = 0.0
    >>> [(f.key, f.required) for f in model_fields(Item)]
    [('name', True), ('price', False)]
    """
    if not isinstance(tp, type):
        return None
    if issubclass(tp, msgspec.Struct):
        return [
            ModelField(f.encode_name, f.type, f.required, f.default)
            for f in msgspec.structs.fields(tp)
        ]
    if dataclasses.is_dataclass(tp) or is_typeddict(tp):
        try:
            hints = typing.get_type_hints(tp, include_extras=True)
        except NameError as exc:
            raise ConfigurationError(f"Cannot read the fields of {tp.__qualname__}: {exc}") from exc
        if is_typeddict(tp):
            required = tp.__required_keys__  # type: ignore[attr-defined]
            return [ModelField(k, t, k in required, None) for k, t in hints.items()]
        return [
            ModelField(f.name, hints[f.name], _field_required(f), f.default)
            for f in dataclasses.fields(tp)  # type: ignore[arg-type]
        ]
    plugin = _plugin_for(tp, plugins)
    return None if plugin is None else plugin.model_fields(tp)


def _field_required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


_SCALARS = (str, int, float, bool, bytes, uuid.UUID)


def is_model(tp: Any, plugins: Plugins = None) -> bool:
    """Whether ``tp`` (or a list/union of it) is a structured type that comes from a body.

    >>> class Item(msgspec.Struct): name: str
    >>> is_model(Item), is_model(list[Item]), is_model(int), is_model(list[int])
    (True, True, False, False)
    """
    if isinstance(tp, type) and (
        issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp) or is_typeddict(tp)
    ):
        return True
    if _plugin_for(tp, plugins) is not None:
        return True
    origin = get_origin(tp)
    if origin is typing.Annotated:
        return is_model(get_args(tp)[0], plugins)
    if origin in (list, tuple, set, frozenset, typing.Union, types.UnionType):
        return any(is_model(arg, plugins) for arg in get_args(tp) if arg is not type(None))
    return origin is dict or tp is dict


def unwrap_optional(tp: Any) -> tuple[Any, bool]:
    """``int | None`` -> ``(int, True)``; ``int`` -> ``(int, False)``."""
    if get_origin(tp) in (typing.Union, types.UnionType):
        args = get_args(tp)
        if type(None) in args:
            rest = tuple(arg for arg in args if arg is not type(None))
            return (rest[0] if len(rest) == 1 else typing.Union[rest]), True  # noqa: UP007
    return tp, False


def is_sequence(tp: Any) -> bool:
    """Whether a query or header parameter of type ``tp`` collects every value."""
    tp, _ = unwrap_optional(tp)
    if get_origin(tp) is typing.Annotated:
        tp = get_args(tp)[0]
    return get_origin(tp) in (list, tuple, set, frozenset) or tp in (list, tuple, set, frozenset)


# --- Errors -------------------------------------------------------------------------


def _parse_location(path: str) -> list[str | int]:
    """``$.items[0].name`` -> ``["items", 0, "name"]``."""
    loc: list[str | int] = []
    i, n = 1, len(path)  # skip the "$"
    while i < n:
        if path[i] == ".":
            j = i + 1
            while j < n and path[j] not in ".[":
                j += 1
            loc.append(path[i + 1 : j])
            i = j
        else:  # "[...]"
            j = path.index("]", i)
            token = path[i + 1 : j]
            loc.append(int(token) if token.isdigit() else token)
            i = j + 1
    return loc


def validation_detail(message: str, loc: tuple[str | int, ...]) -> ErrorDetail:
    """Turn one msgspec ``ValidationError`` message into our error shape."""
    where: list[str | int] = list(loc)
    text, sep, path = message.partition(" - at `")
    if sep:
        where.extend(_parse_location(path.rstrip("`")))
    missing = "missing required field `"
    if missing in text:
        where.append(text.split(missing, 1)[1].rstrip("`"))
        return {"loc": where, "msg": "Field required", "type": "missing"}
    kind = "type_error" if text.startswith("Expected `") and ", got `" in text else "value_error"
    return {"loc": where, "msg": text, "type": kind}


def missing_detail(loc: tuple[str | int, ...]) -> ErrorDetail:
    return {"loc": list(loc), "msg": "Field required", "type": "missing"}


def rename_locations(errors: list[ErrorDetail], names: dict[str, str]) -> None:
    """Name a group's fields as the client sent them: ``["header", "x_id"]`` -> ``"x-id"``."""
    for error in errors:
        loc = error["loc"]
        if len(loc) > 1 and isinstance(loc[1], str) and loc[1] in names:
            loc[1] = names[loc[1]]


# --- Every error at once (the error path only) ----------------------------------------

_MAX_ERRORS = 100  # a body of ten thousand wrong values gets a 422, not a 10 MB answer
_MAX_DEPTH = 32
_SEQUENCES = (list, tuple, set, frozenset)
_UNIONS = (typing.Union, types.UnionType)
_Field: TypeAlias = tuple[str, Any, bool]  # (key, type, required)

# How much of a value ``_ErrorFinder`` checked by looking inside it.
_LEAF, _PARTLY, _FULLY = 0, 1, 2


class _ErrorFinder:
    """Walks a value msgspec rejected, field by field, to report every error, not the first.

    msgspec stops at the first error it meets, which keeps the success path one C pass;
    this runs only after that pass failed. Fields, list items and dict values are checked
    one by one; a model's own checks (constraints on a whole list, unknown fields, a
    ``__post_init__``) are checked when nothing inside it was wrong.
    """

    __slots__ = ("fields", "strict")

    def __init__(self, strict: bool) -> None:
        self.strict = strict
        self.fields: dict[Any, list[_Field] | None] = {}

    def find(self, tp: Any, value: Any, loc: tuple[str | int, ...]) -> list[ErrorDetail]:
        errors: list[ErrorDetail] = []
        self._check(tp, value, loc, errors, 0)
        return errors

    def _check(
        self, tp: Any, value: Any, loc: tuple[str | int, ...], errors: list[ErrorDetail], depth: int
    ) -> None:
        if len(errors) >= _MAX_ERRORS:
            return
        before = len(errors)
        checked = _LEAF if depth > _MAX_DEPTH else self._inside(tp, value, loc, errors, depth)
        if checked == _FULLY or len(errors) > before:
            return
        try:  # a leaf, or a whole whose parts were right: its own checks remain
            msgspec.convert(value, tp, strict=self.strict and checked == _LEAF)
        except msgspec.ValidationError as exc:
            errors.append(validation_detail(str(exc), loc))

    def _inside(
        self, tp: Any, value: Any, loc: tuple[str | int, ...], errors: list[ErrorDetail], depth: int
    ) -> int:
        origin = get_origin(tp)
        if origin is typing.Annotated:  # the constraints apply to the whole
            return min(self._inside(get_args(tp)[0], value, loc, errors, depth), _PARTLY)
        if origin in _UNIONS:  # only ``X | None`` is looked into
            inner, optional = unwrap_optional(tp)
            if not optional or value is None or get_origin(inner) in _UNIONS:
                return _LEAF
            return self._inside(inner, value, loc, errors, depth)
        if type(value) is dict:
            return self._inside_object(tp, value, loc, errors, depth)
        if type(value) is list and origin in _SEQUENCES:
            return self._inside_array(tp, value, loc, errors, depth)
        return _LEAF

    def _inside_object(
        self,
        tp: Any,
        value: dict[Any, Any],
        loc: tuple[str | int, ...],
        errors: list[ErrorDetail],
        depth: int,
    ) -> int:
        fields = self._fields_of(tp)
        if fields is not None:
            for key, field_type, required in fields:
                if key in value:
                    self._check(field_type, value[key], (*loc, key), errors, depth + 1)
                elif required and len(errors) < _MAX_ERRORS:
                    errors.append(missing_detail((*loc, key)))
            return _PARTLY
        args = get_args(tp)
        if get_origin(tp) in (dict, collections.abc.Mapping) and len(args) == 2:
            for key, item in value.items():
                self._check(args[1], item, (*loc, key), errors, depth + 1)
            return _PARTLY  # the keys are checked with the whole
        return _LEAF

    def _inside_array(
        self,
        tp: Any,
        value: list[Any],
        loc: tuple[str | int, ...],
        errors: list[ErrorDetail],
        depth: int,
    ) -> int:
        origin, args = get_origin(tp), get_args(tp)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) != len(value):
                return _LEAF
            item_types = args
        else:
            item_types = (args[0],) * len(value)
        for index, (item_type, item) in enumerate(zip(item_types, value, strict=True)):
            self._check(item_type, item, (*loc, index), errors, depth + 1)
        return _FULLY if origin in (list, tuple) else _PARTLY  # a set's items must be unique

    def _fields_of(self, tp: Any) -> list[_Field] | None:
        try:
            return self.fields[tp]
        except KeyError:
            pass
        except TypeError:  # unhashable metadata in the annotation: not kept
            return _model_fields(tp)
        found = self.fields[tp] = _model_fields(tp)
        return found


def _model_fields(tp: Any) -> list[_Field] | None:
    """``(key, type, required)`` per field of a Struct, dataclass or TypedDict, else None."""
    cls = get_origin(tp) or tp  # a generic Struct, ``Page[Item]``
    if not isinstance(cls, type):
        return None
    if issubclass(cls, msgspec.Struct):
        if cls.__struct_config__.array_like:
            return None
        return [(f.encode_name, f.type, f.required) for f in msgspec.structs.fields(tp)]
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        return [(f.name, hints[f.name], _required(f)) for f in dataclasses.fields(cls) if f.init]
    if is_typeddict(cls):
        hints = typing.get_type_hints(cls)
        required = cls.__required_keys__  # type: ignore[attr-defined]
        return [(key, hint, key in required) for key, hint in hints.items()]
    return None


def _required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def _every_error(
    finder: _ErrorFinder, tp: Any, value: Any, loc: tuple[str | int, ...], first: Exception
) -> RequestValidationError:
    """The 422 for ``value``: every error the finder sees, else msgspec's first one."""
    errors = finder.find(tp, value, loc)
    return RequestValidationError(errors or [validation_detail(str(first), loc)])


# --- Factories used by the endpoint plan ----------------------------------------------


def _int(value: Any) -> int:
    # PERF: int() on plain ASCII digits is ~3x faster than msgspec.convert; anything
    # else (signs, exponents, junk) takes msgspec's path and its error message.
    if type(value) is str and value.isascii() and value.isdigit() and len(value) < 19:
        return int(value)
    return msgspec.convert(value, int, strict=False)


def _str(value: Any) -> Any:
    if type(value) is str:
        return value
    return msgspec.convert(value, str, strict=False)


def param_converter(tp: Any, loc: tuple[str | int, ...], plugins: Plugins = None) -> Converter:
    """A callable turning a string (or list of strings) into ``tp``, or raising 422."""
    plugin = _plugin_for(tp, plugins)
    if plugin is not None:
        return plugin.converter(tp, loc)
    if tp is str or tp is Any:
        raw: Converter = _str
    elif tp is int:
        raw = _int
    else:

        def raw(value: Any) -> Any:
            return msgspec.convert(value, tp, strict=False)

    finder = _ErrorFinder(strict=False)

    def convert(value: Any) -> Any:
        try:
            return raw(value)
        except msgspec.ValidationError as exc:
            raise _every_error(finder, tp, value, loc, exc) from None

    return convert


def body_decoder(
    tp: Any, loc: tuple[str | int, ...] = ("body",), plugins: Plugins = None
) -> Decoder:
    """A callable turning JSON bytes into ``tp``: 400 for malformed JSON, 422 for wrong types."""
    plugin = _plugin_for(tp, plugins)
    if plugin is not None:
        return plugin.body_decoder(tp, loc)
    decode = msgspec.json.Decoder(tp).decode
    finder = _ErrorFinder(strict=True)

    def decoder(body: bytes) -> Any:
        try:
            return decode(body)
        except msgspec.ValidationError as exc:
            raise _every_body_error(finder, tp, body, loc, exc) from None
        except msgspec.DecodeError as exc:
            raise HTTPError(400, f"The body is not valid JSON: {exc}") from None
        except RecursionError:
            raise HTTPError(400, "The JSON body is nested too deeply.") from None

    return decoder


def _every_body_error(
    finder: _ErrorFinder, tp: Any, body: bytes, loc: tuple[str | int, ...], first: Exception
) -> HTTPError:
    # NOTE: msgspec validates while it parses, so a body can fail validation before its
    # JSON is seen to be malformed; read untyped, that shows, and is a 400.
    try:
        value = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        return HTTPError(400, f"The body is not valid JSON: {exc}")
    except RecursionError:
        return RequestValidationError([validation_detail(str(first), loc)])
    return _every_error(finder, tp, value, loc, first)


def response_encoder(tp: Any, plugins: Plugins = None) -> Encoder:
    """A callable encoding a handler's return value as its declared type ``tp``.

    A value that already is the declared Struct or dataclass (or, for ``Item | None``,
    one of them) is encoded as it is, in one pass. Anything else (a dict, an ORM object,
    a list of them) is converted to ``tp`` first, which drops undeclared fields and
    checks every value: ``-> list[UserOut]`` cannot leak the password hash it was
    handed, and a wrong value raises (a 500) before any byte is sent. Untyped
    annotations (``dict``, ``list[Any]``, ``dict[str, Any]``, ``Any``) cost nothing.

    Raises ``ConfigurationError`` for a type with fields that msgspec cannot convert
    to (``list[Cat | Dog]`` of untagged Structs); a union of them at the top is tried
    arm by arm.
    """
    plugin = _plugin_for(tp, plugins)
    if plugin is not None:
        return plugin.response_encoder(tp)
    encoder = _encoder_for(_default_plugins() if plugins is None else tuple(plugins))
    convert = _response_converter(tp)
    if convert is None:
        return encoder.encode
    encode = encoder.encode
    bare = _strip_annotated(tp)
    if _is_struct_or_dataclass(bare):

        def encode_one(value: Any) -> bytes:
            if type(value) is not bare:
                value = convert(value)
            return encode(value)

        return encode_one
    direct = _direct_types(bare)

    def encode_declared(value: Any) -> bytes:
        if type(value) not in direct:
            value = convert(value)
        return encode(value)

    return encode_declared


_UNTYPED_CONTAINERS = (dict, list, tuple, set, frozenset)


def _is_untyped(tp: Any) -> bool:
    """Whether ``tp`` says nothing a value could break: ``dict``, ``list[Any]``, ``Any``."""
    if tp is Any or tp is object or tp is type(None) or tp is Ellipsis:
        return True
    if tp in _UNTYPED_CONTAINERS:
        return True
    origin, args = get_origin(tp), get_args(tp)
    if origin is dict and args and args[0] is str:  # JSON keys are strings anyway
        return _is_untyped(args[1])
    if origin in _UNTYPED_CONTAINERS or origin in _UNIONS:
        return all(_is_untyped(arg) for arg in args)
    return False


def _is_struct_or_dataclass(tp: Any) -> bool:
    return isinstance(tp, type) and (issubclass(tp, msgspec.Struct) or dataclasses.is_dataclass(tp))


def _strip_annotated(tp: Any) -> Any:
    return get_args(tp)[0] if get_origin(tp) is typing.Annotated else tp


def _direct_types(tp: Any) -> frozenset[Any]:
    """The types whose exact instances need no converting: ``Item | None`` -> Item, None."""
    arms = get_args(tp) if get_origin(tp) in _UNIONS else (tp,)
    return frozenset(arm for arm in arms if _is_struct_or_dataclass(arm) or arm is type(None))


def _response_converter(tp: Any) -> Converter | None:
    """How to turn a returned value into ``tp``; None when there is nothing to check."""
    if _is_untyped(tp):
        return None
    try:
        msgspec.inspect.type_info(tp)
    except TypeError as exc:
        bare = _strip_annotated(tp)
        if get_origin(bare) in _UNIONS:
            return _union_converter(get_args(bare))
        if not _has_fields(tp):
            return None
        raise ConfigurationError(
            f"The response type {_type_name(tp)} cannot be validated: {exc}. Tag the "
            "Structs (msgspec.Struct, tag=True) or declare a type msgspec supports."
        ) from None

    if _is_struct_or_dataclass(tp):

        def convert(value: Any) -> Any:
            return msgspec.convert(value, tp, from_attributes=True)

        return convert
    # PERF: msgspec keeps what it learns of a type on a Struct or dataclass, but reads a
    # ``list[UserOut]`` afresh on every convert() call; boxed in a Struct, it is read
    # once (timeit, converting a list of 10 UserOut: 3.3 -> 0.54 µs).
    box: Any = msgspec.defstruct("Response", [("response", tp)])
    attributes = _has_fields(tp)  # objects' attributes are read only into a model

    def convert_boxed(value: Any) -> Any:
        return msgspec.convert({"response": value}, box, from_attributes=attributes).response

    return convert_boxed


def _union_converter(arms: tuple[Any, ...]) -> Converter:
    """``Cat | Dog`` of untagged Structs, which msgspec cannot tell apart: the first arm
    that takes the value (a Cat or a Dog itself is sent as it is, before this)."""
    converters = [_response_converter(arm) for arm in arms]

    def convert(value: Any) -> Any:
        first: msgspec.ValidationError | None = None
        for arm_convert in converters:
            if arm_convert is None:
                return value
            try:
                return arm_convert(value)
            except msgspec.ValidationError as exc:
                first = first or exc
        assert first is not None
        raise first

    return convert


def _has_fields(tp: Any) -> bool:
    """Whether ``tp`` is, or holds, a type with declared fields (a leak to filter)."""
    if isinstance(tp, type) and (_is_struct_or_dataclass(tp) or is_typeddict(tp)):
        return True
    return any(_has_fields(arg) for arg in get_args(tp))


def _type_name(tp: Any) -> str:
    return tp.__qualname__ if isinstance(tp, type) else repr(tp).replace("typing.", "")
