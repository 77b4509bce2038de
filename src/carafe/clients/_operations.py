"""An OpenAPI document read into the little a client generator needs. Sans I/O.

    >>> api = read_document(build_openapi(app))
    >>> op = api.operations[0]
    >>> op.name, op.method, op.path, [p.name for p in op.params]
    ('read_item', 'GET', '/items/{item_id}', ['item_id'])

The generators work from the document, not from the app's Python objects: a client
then says exactly what ``/openapi.json`` and the docs pages say, and the same reader
serves any language. Only what Carafe documents is read: JSON, urlencoded and
multipart bodies, ``$ref`` to ``#/components/schemas``, and the first 2xx response.

An answer of ``text/event-stream`` (an ``EventSourceResponse``) is a ``Result`` of kind
``"events"``: the writers give it a method that hands out the server-sent events as
they come instead of waiting for the body to end, which a live stream never does. The
document says nothing of an event's data (OpenAPI 3.1 describes the stream as one
``string``), so the clients give it as text, for the caller to decode.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Literal

from carafe.exceptions import ConfigurationError

__all__ = [
    "API",
    "Body",
    "ClientError",
    "Operation",
    "Param",
    "Result",
    "SchemaTypes",
    "read_document",
    "ref_name",
    "snake_case",
]

REF_PREFIX = "#/components/schemas/"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_SOURCES = ("path", "query", "header", "cookie")
_JSON = re.compile(r"^application/(.+\+)?json$")
_EVENTS = "text/event-stream"

Schema = Mapping[str, Any]


class ClientError(ConfigurationError):
    """The document holds something the generators cannot turn into a client."""


@dataclasses.dataclass(frozen=True, slots=True)
class Param:
    """A path, query, header or cookie parameter, or a field of a form body."""

    name: str
    source: str
    required: bool
    schema: Schema
    description: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Body:
    """The request body: JSON (one schema) or a form (its fields)."""

    kind: Literal["json", "form", "multipart"]
    required: bool
    schema: Schema
    fields: tuple[Param, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """What a 2xx answer holds: JSON of ``schema``, text, server-sent events, or nothing."""

    status: int
    kind: Literal["json", "text", "events", "none"]
    schema: Schema = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True, slots=True)
class Operation:
    """One method on one path."""

    name: str  # the operationId in snake_case
    method: str
    path: str
    params: tuple[Param, ...]
    body: Body | None
    result: Result
    errors: tuple[tuple[int, str], ...]  # status -> component schema of the problem
    summary: str | None = None
    description: str | None = None
    deprecated: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class API:
    """The component schemas by name and the operations in document order."""

    title: str
    version: str
    schemas: Mapping[str, Schema]
    operations: tuple[Operation, ...]

    @property
    def streams(self) -> bool:
        """Whether an operation answers server-sent events (the clients then need a reader)."""
        return any(op.result.kind == "events" for op in self.operations)


def snake_case(name: str) -> str:
    """``ItemView_get`` -> ``item_view_get``, ``x-editor`` -> ``x_editor``."""
    name = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"[^0-9a-zA-Z]+", "_", name).strip("_").lower() or "_"


class SchemaTypes:
    """A schema -> type expression walk, the same for every language.

    ``of`` follows references, constants, enums, unions and ``allOf`` of one; a writer
    says how its language spells a literal, a union and a typed schema.
    """

    def __init__(self, names: Mapping[str, str]) -> None:
        self.names = names  # component schema -> the name the writer gave it

    def of(self, schema: Schema) -> str:
        """The type expression of ``schema``."""
        name = ref_name(schema)
        if name is not None:
            if name not in self.names:
                raise ClientError(f"the document has no component schema {name!r}")
            return self.names[name]
        if "const" in schema:
            return self.literal([schema["const"]])
        if "enum" in schema:
            return self.literal(list(schema["enum"]))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.union(self.of(member) for member in schema[key])
        if len(schema.get("allOf", ())) == 1:
            return self.of(schema["allOf"][0])
        kind = schema.get("type")
        if isinstance(kind, list):
            return self.union(self.of({**schema, "type": one}) for one in kind)
        return self.typed(kind, schema)

    def literal(self, values: list[Any]) -> str:
        raise NotImplementedError

    def union(self, parts: Iterable[str]) -> str:
        raise NotImplementedError

    def typed(self, kind: Any, schema: Schema) -> str:
        raise NotImplementedError


def ref_name(schema: Schema) -> str | None:
    """The component a ``{"$ref": "#/components/schemas/X"}`` names, else None."""
    ref = schema.get("$ref")
    if ref is None:
        return None
    if not isinstance(ref, str) or not ref.startswith(REF_PREFIX):
        raise ClientError(f"only references to {REF_PREFIX}... are supported, not {ref!r}")
    return ref[len(REF_PREFIX) :]


def read_document(document: Mapping[str, Any]) -> API:
    """Read the operations and component schemas of an OpenAPI 3.x ``document``."""
    if not str(document.get("openapi", "")).startswith("3."):
        raise ClientError("expected an OpenAPI 3 document (an 'openapi': '3.x' field)")
    info = document.get("info", {})
    schemas = document.get("components", {}).get("schemas", {})
    operations = []
    used: set[str] = set()
    for path, item in document.get("paths", {}).items():
        shared = item.get("parameters", [])
        for method in _METHODS:
            if method in item:
                operation = _operation(path, method, item[method], shared, used)
                operations.append(operation)
    named = dict(schemas)
    return API(
        title=str(info.get("title", "API")),
        version=str(info.get("version", "")),
        schemas=named,
        operations=tuple(_name_inline_objects(op, named) for op in operations),
    )


def _name_inline_objects(op: Operation, schemas: dict[str, Schema]) -> Operation:
    """An inline object body or answer (``Body(embed=True)``) becomes a component
    (``PairBody``, ``PairResult``), so the client has a model for it, not a dict."""
    body, result = op.body, op.result
    if body is not None and body.kind == "json" and "properties" in body.schema:
        body = dataclasses.replace(body, schema=_component(schemas, op.name, "Body", body.schema))
    if result.kind == "json" and "properties" in result.schema:
        schema = _component(schemas, op.name, "Result", result.schema)
        result = dataclasses.replace(result, schema=schema)
    return dataclasses.replace(op, body=body, result=result)


def _component(schemas: dict[str, Schema], operation: str, suffix: str, schema: Schema) -> Schema:
    base = "".join(part.capitalize() for part in operation.split("_")) + suffix
    name, number = base, 2
    while name in schemas:
        name, number = f"{base}{number}", number + 1
    schemas[name] = {"type": "object", **schema}
    return {"$ref": REF_PREFIX + name}


def _operation(
    path: str, method: str, spec: Mapping[str, Any], shared: list[Any], used: set[str]
) -> Operation:
    base = snake_case(spec.get("operationId") or f"{method}_{path}")
    name, number = base, 2
    while name in used:
        name, number = f"{base}_{number}", number + 1
    used.add(name)
    params = {(p["name"], p["in"]): p for p in [*shared, *spec.get("parameters", [])]}
    return Operation(
        name=name,
        method=method.upper(),
        path=path,
        params=tuple(_param(p) for p in params.values() if p["in"] in _SOURCES),
        body=_body(spec.get("requestBody")),
        result=_result(spec.get("responses", {})),
        errors=tuple(_errors(spec.get("responses", {}))),
        summary=spec.get("summary"),
        description=spec.get("description"),
        deprecated=bool(spec.get("deprecated", False)),
    )


def _param(spec: Mapping[str, Any]) -> Param:
    if "$ref" in spec:
        raise ClientError("parameters given as $ref are not supported")
    return Param(
        name=spec["name"],
        source=spec["in"],
        required=bool(spec.get("required", spec["in"] == "path")),
        schema=spec.get("schema", {}),
        description=spec.get("description"),
    )


def _body(spec: Mapping[str, Any] | None) -> Body | None:
    if not spec:
        return None
    content = spec.get("content", {})
    required = bool(spec.get("required", False))
    for media, entry in content.items():
        if _JSON.match(media):
            return Body("json", required, entry.get("schema", {}))
    forms: tuple[tuple[str, Literal["form", "multipart"]], ...] = (
        ("application/x-www-form-urlencoded", "form"),
        ("multipart/form-data", "multipart"),
    )
    for media, kind in forms:
        if media in content:
            schema = content[media].get("schema", {})
            if ref_name(schema) is not None:
                raise ClientError("a form body must be an inline object schema")
            needed = set(schema.get("required", ()))
            fields = tuple(
                Param(field, "form", field in needed, sub, sub.get("description"))
                for field, sub in schema.get("properties", {}).items()
            )
            return Body(kind, required, schema, fields)
    raise ClientError(f"no supported media type in a request body: {sorted(content)}")


def _statuses(responses: Mapping[str, Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    for status, spec in responses.items():
        if str(status).isdigit():
            yield int(status), spec


def _result(responses: Mapping[str, Any]) -> Result:
    ok = sorted((status, spec) for status, spec in _statuses(responses) if 200 <= status < 300)
    if not ok:
        return Result(200, "json", {})
    status, spec = ok[0]
    content = spec.get("content", {})
    for media, entry in content.items():
        if _JSON.match(media):
            return Result(status, "json", entry.get("schema", {}))
    if any(media.split(";")[0].strip().lower() == _EVENTS for media in content):
        return Result(status, "events")
    if content:
        return Result(status, "text")
    return Result(status, "none")


def _errors(responses: Mapping[str, Any]) -> Iterator[tuple[int, str]]:
    for status, spec in _statuses(responses):
        for media, entry in spec.get("content", {}).items():
            name = ref_name(entry.get("schema", {})) if _JSON.match(media) else None
            if status >= 400 and name is not None:
                yield status, name
                break
