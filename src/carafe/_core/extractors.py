"""Parameter extractors: one closure per parameter, built at startup, run per request.

Each reads one place of the request (the path, the query string, a header, a cookie,
the JSON body), converts it to the parameter's type with a converter chosen once, and
raises ``RequestValidationError`` with the parameter's ``loc`` when it cannot.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from carafe._core import codecs
from carafe._core.plan import ParamInfo
from carafe.exceptions import HTTPError, RequestValidationError, elide
from carafe.params import REQUIRED, Body, Header, Param
from carafe.requests import Request, read_body

if TYPE_CHECKING:
    from carafe._core.codecs import CodecPlugin

__all__ = ["is_json_media_type", "json_body_extractor", "param_extractor"]

Extractor = Callable[[Request], Any]
AsyncExtractor = Callable[[Request], Awaitable[Any]]
Plugins = Sequence["CodecPlugin"] | None


def _identity(value: Any) -> Any:
    return value


def _simple_extractor(info: ParamInfo, plugins: Plugins) -> Extractor:
    """An extractor for a path, query, header or cookie parameter."""
    inner, _ = codecs.unwrap_optional(info.annotation)
    many = codecs.is_sequence(inner)
    convert = codecs.param_converter(inner, info.loc, plugins)
    if inner is str:
        # PERF: a plain str parameter needs no converter call (bench/inprocess.py,
        # GET /items/42?q=x).
        convert = _identity
    key, default, required, loc = info.key, info.default, info.required, info.loc

    def missing() -> Any:
        if required:
            raise RequestValidationError([codecs.missing_detail(loc)])
        return default

    if info.source == "path":
        return lambda request: convert(request.path_params[key])
    if info.source == "query":

        def from_query(request: Request) -> Any:
            values = request.query_dict().get(key)
            if values is None:
                return missing()
            return convert(values if many else values[0])

        return from_query
    if info.source == "header":

        def from_header(request: Request) -> Any:
            if many:
                values = request.headers.getlist(key)
                return convert(values) if values else missing()
            value = request.headers.get(key)
            return missing() if value is None else convert(value)

        return from_header

    def from_cookie(request: Request) -> Any:
        value = request.cookies.get(key)
        return missing() if value is None else convert(value)

    return from_cookie


def param_extractor(
    info: ParamInfo, base: Any, plugins: Plugins
) -> tuple[Extractor, list[ParamInfo]]:
    """The extractor for a path/query/header/cookie parameter, and what it reads.

    A model (Struct, dataclass, pydantic model) marked ``Query()``, ``Header()`` or
    ``Cookie()`` is a parameter group: each of its fields is one parameter.
    """
    inner, optional = codecs.unwrap_optional(base)
    fields = None if info.source == "path" else _group_fields(inner, plugins)
    if fields is None:
        return _simple_extractor(info, plugins), [info]
    wire = [(_wire_key(key, info.marker), key, codecs.is_sequence(tp)) for key, tp, _, _ in fields]
    infos = [
        ParamInfo(key, wire_key, info.source, tp, default if not required else REQUIRED, None)
        for (wire_key, _, _), (key, tp, required, default) in zip(wire, fields, strict=True)
    ]
    convert = codecs.param_converter(inner, (info.source,), plugins)
    source, default = info.source, info.default
    # The model reports a field by its key; the client knows it by its wire name.
    renamed = {key: wire_key for wire_key, key, _ in wire if key != wire_key}

    def from_group(request: Request) -> Any:
        values: dict[str, Any] = {}
        for wire_key, key, many in wire:
            found = _lookup(request, source, wire_key)
            if found:
                values[key] = found if many else found[0]
        if not values and optional:
            return None if default is REQUIRED else default
        try:
            return convert(values)
        except RequestValidationError as exc:
            if renamed:
                codecs.rename_locations(exc.errors, renamed)
            raise

    return from_group, infos


def _wire_key(key: str, marker: Param | None) -> str:
    """A group field's name in the request: header fields are read as ``x-request-id``."""
    if not isinstance(marker, Header):
        return key
    return (key.replace("_", "-") if marker.convert_underscores else key).lower()


def _lookup(request: Request, source: str, key: str) -> list[str] | None:
    if source == "query":
        return request.query_params._data.get(key)
    if source == "header":
        return request.headers.getlist(key)
    cookie = request.cookies.get(key)
    return None if cookie is None else [cookie]


def _group_fields(tp: Any, plugins: Plugins) -> list[codecs.ModelField] | None:
    """The fields of a model type, each one parameter of a group; None for other types."""
    return codecs.model_fields(tp, plugins)


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or any ``application/*+json``, parameters ignored."""
    if content_type == "application/json":
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def json_body_extractor(group: list[ParamInfo], plugins: Plugins) -> tuple[str, AsyncExtractor]:
    embed = len(group) > 1 or any(isinstance(p.marker, Body) and p.marker.embed for p in group)
    if embed:
        fields = [
            (p.key, p.annotation) if p.required else (p.key, p.annotation, p.default) for p in group
        ]
        tp: Any = msgspec.defstruct("Body", fields, kw_only=True)
        names = [(p.name, p.key) for p in group]
        required = any(p.required for p in group)
        default: Any = REQUIRED if required else tp()
    else:
        tp = group[0].annotation
        default = group[0].default
        required = group[0].required
    decode = codecs.body_decoder(tp, ("body",), plugins)

    async def extract(request: Request) -> Any:
        # PERF: one pass over the raw headers and no Headers index; read_body is called
        # directly (bench/inprocess.py, POST /items: 9.4 -> 8.1 µs).
        content_type: str | None = None
        for key, raw in request.scope["headers"]:
            if key == b"content-type":
                content_type = raw.decode("latin-1")
                break
        if content_type is not None and not is_json_media_type(content_type):
            raise HTTPError(
                415, f"The body must be JSON (application/json), not {elide(content_type)}."
            )
        # PERF: the body is kept on this Request (the one the handler, its dependencies
        # and hooks share), not in a context created for it: 4.7 -> 4.5 µs on POST.
        body = request._body
        if body is None:
            body = request._body = await read_body(
                request.scope, request.receive, request.limits.max_body_size or 0, keep=False
            )
        if not body:
            if required:
                raise RequestValidationError(
                    [{"loc": ["body"], "msg": "A JSON body is required", "type": "missing"}]
                )
            value = default
        elif content_type is None:
            raise HTTPError(415, "The body must be JSON: send Content-Type: application/json.")
        else:
            value = decode(body)
        if embed:
            return {name: getattr(value, key) for name, key in names}
        return value

    return ("" if embed else group[0].name), extract
