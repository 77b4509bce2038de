"""A typed Python client (httpx, msgspec) written from an app's OpenAPI document. Sans I/O.

    >>> source = python_client(read_document(build_openapi(app)))
    >>> "class Client:" in source and "class AsyncClient:" in source
    True

The module it writes: a ``msgspec.Struct`` (keyword-only, so field order is free) for
every object schema in ``components``, a type alias for every other component, one
request builder per operation, and ``Client`` / ``AsyncClient`` whose methods are one
line each over the shared builders (the sync and async twins differ by ``await`` only).
Names that are not Python identifiers, keywords, and the module's own names get a safe
spelling; the name on the wire is kept with ``msgspec.field(name=...)``.

An operation answering server-sent events gets a method returning ``EventStream``
(``AsyncEventStream``), a context manager over the events as they come, and the module
gets the reader; why that shape, and why its own parser, is told in
``carafe.clients._runtime_py``.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from typing import Any

from carafe.clients._operations import API, Operation, Param, Schema, ref_name
from carafe.clients._pytypes import (
    ANNOTATION_NAMES,
    ARGUMENT_NAMES,
    RESERVED,
    STREAM_NAMES,
    Types,
    identifier,
    union,
    unique,
)
from carafe.clients._runtime_py import ASYNC_STREAM, EVENTS, HEADER, RUNTIME, STREAM

__all__ = ["python_client"]

_WIDTH = 100
_SIMPLE_DEFAULT = (str, int, float, bool)


def python_client(api: API) -> str:
    """The source of one module holding the models and both clients for ``api``."""
    reserved = RESERVED | STREAM_NAMES if api.streams else RESERVED
    names = _class_names(api.schemas, reserved)
    types = Types(names)
    fields_reserved = ANNOTATION_NAMES | set(names.values())
    models = [
        _model(names[name], schema, types, fields_reserved) for name, schema in api.schemas.items()
    ]
    order = _alias_order(api.schemas, names)
    aliases = [f"{names[name]} = {types.of(api.schemas[name])}" for name in order]
    builders, methods, async_methods = [], [], []
    taken = set(names.values())
    for operation in api.operations:
        method = unique(identifier(operation.name, reserved), taken)
        build = _Builder(operation, types, method)
        builders.append(build.function())
        methods.append(build.method(asynchronous=False))
        async_methods.append(build.method(asynchronous=True))
    streamed = ["AsyncEventStream", "EventStream", "ServerSentEvent"] if api.streams else []
    exports = sorted(["APIError", "AsyncClient", "Client", "File", *streamed, *names.values()])
    modules = {"dataclasses", "datetime", *types.modules} - {"Literal"}
    modules |= {"contextlib"} if api.streams else set()
    imports = "".join(f"import {module}\n" for module in sorted(modules))
    abc = "AsyncGenerator, AsyncIterator, Generator, Iterator, " if api.streams else ""
    literal = "Literal, " if "Literal" in types.modules else ""
    runtime = RUNTIME.replace("{events}", EVENTS if api.streams else "")
    runtime = runtime.replace("{client_stream}", STREAM if api.streams else "")
    runtime = runtime.replace("{async_stream}", ASYNC_STREAM if api.streams else "")
    parts = [
        f'"""A typed client for {_clean(api.title)} {_clean(api.version)}'.rstrip()
        + ", written by ``carafe client``.\n\nGenerated from the API's OpenAPI document:"
        ' generate it again when the API changes,\nrather than editing it.\n"""\n\n',
        HEADER.format(imports=imports, abc=abc + "Mapping", literal=literal),
        "__all__ = [\n" + "".join(f'    "{name}",\n' for name in exports) + "]\n\n",
        *[f"\n{model}" for model in models if model],
        "\n" + "\n".join(aliases) + "\n" if aliases else "",
        runtime.replace("{client}", "".join(methods)).replace(
            "{async_client}", "".join(async_methods)
        ),
        "\n\n# --- One request builder per operation -------------------------------------\n",
        *builders,
    ]
    return "".join(parts).rstrip() + "\n"


def _clean(text: str) -> str:
    return " ".join(text.replace('"""', "'''").replace("\\", "/").split())


def is_struct(schema: Schema) -> bool:
    """Whether a component schema becomes a Struct (an object with properties)."""
    return "properties" in schema and schema.get("type", "object") == "object"


def _class_names(schemas: Mapping[str, Schema], reserved: frozenset[str]) -> dict[str, str]:
    taken: set[str] = set()
    return {
        name: unique(identifier(name, reserved, snake=False), taken)
        for name in schemas  # the document's spelling when it is an identifier
    }


def _alias_order(schemas: Mapping[str, Schema], names: Mapping[str, str]) -> list[str]:
    """Non-struct components, each after the aliases it uses (they are evaluated at import)."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(name: str) -> None:
        if name in seen or name not in schemas or is_struct(schemas[name]):
            return
        seen.add(name)
        for used in _refs(schemas[name]):
            visit(used)
        order.append(name)

    for name in schemas:
        visit(name)
    return order


def _refs(node: Any) -> list[str]:
    if isinstance(node, Mapping):
        found = [ref_name(node)] if "$ref" in node else []
        return [n for n in found if n] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def _model(name: str, schema: Schema, types: Types, reserved: frozenset[str]) -> str:
    if not is_struct(schema):
        return ""
    lines = [f"class {name}(msgspec.Struct, kw_only=True):"]
    doc = schema.get("description") or (schema.get("title") != name and schema.get("title"))
    lines.extend(_docstring(doc, 4) if doc else [])
    required = set(schema.get("required", ()))
    taken: set[str] = set()
    fields = [
        f"    {field}: {_field(wire, field, sub, wire in required, types)}"
        for wire, sub in schema["properties"].items()
        if (field := unique(identifier(wire, reserved, snake=False), taken))
    ]
    if doc and fields:
        lines.append("")
    lines.extend(fields or ([] if doc else ["    pass"]))
    return "\n".join(lines) + "\n\n"


def _field(wire: str, field: str, schema: Schema, required: bool, types: Types) -> str:
    """``type = default`` for one Struct field."""
    annotation = types.of(schema)
    options = [f"name={_string(wire)}"] if wire != field else []
    default = None if required else _default(schema, annotation)
    if not required and default is None:
        if "None" in annotation.split(" | "):
            default = "None"
        else:
            annotation = union([annotation, "msgspec.UnsetType"])
            default = "msgspec.UNSET"
    if default is not None and default.startswith(("list", "dict", "lambda")):
        options.append(f"default_factory={default}")
    elif default is not None:
        if not options:
            return f"{annotation} = {default}"
        options.append(f"default={default}")
    if options:
        return f"{annotation} = msgspec.field({', '.join(options)})"
    return annotation


def _default(schema: Schema, annotation: str) -> str | None:
    """The schema's default as Python source, when it fits the annotation as it is.

    A mutable default is a factory (``list``, ``lambda: [1]``).
    """
    if "default" not in schema:
        return None
    value = schema["default"]
    simple = ref_name(schema) is None and not any(
        k in annotation for k in ("datetime", "uuid", "File")
    )
    if value is None:
        return "None" if "None" in annotation.split(" | ") else None
    if isinstance(value, _SIMPLE_DEFAULT) and simple:
        return _literal(value)
    if isinstance(value, list | dict) and simple and annotation.startswith(("list[", "dict[")):
        empty = "list" if isinstance(value, list) else "dict"
        return f"lambda: {_literal(value)}" if value else empty
    return None


def _docstring(text: str, indent: int) -> list[str]:
    pad = " " * indent
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"').strip()
    paragraphs = [
        textwrap.fill(part, _WIDTH - indent - 3, break_on_hyphens=False)
        for part in text.split("\n\n")
    ]
    body = "\n\n".join(paragraphs).splitlines()
    if len(body) == 1 and len(body[0]) + indent + 6 <= _WIDTH:
        return [f'{pad}"""{body[0]}"""']
    return [f'{pad}"""{body[0]}', *[f"{pad}{line}".rstrip() for line in body[1:]], f'{pad}"""']


class _Builder:
    """The request builder function and the two client methods of one operation."""

    def __init__(self, operation: Operation, types: Types, method: str) -> None:
        self.op = operation
        self.types = types
        self.method_name = method
        self.function_name = f"_op_{method}"
        taken: set[str] = set()
        body = operation.body
        fields = body.fields if body is not None and body.kind != "json" else ()
        self.args = [
            (unique(identifier(p.name, ARGUMENT_NAMES), taken), p)
            for p in (*operation.params, *fields)
        ]
        self.body = unique("body", taken) if body is not None and body.kind == "json" else None
        self.result = self._result_type()

    def _result_type(self) -> str:
        """What the request builder's ``_Call`` reads: for an event stream, each event."""
        kind = self.op.result.kind
        if kind == "none":
            return "None"
        if kind == "events":
            return "ServerSentEvent"
        return "str" if kind == "text" else self.types.of(self.op.result.schema)

    def signature(self) -> list[str]:
        """The parameters: path ones and the body positional, the rest keyword-only."""
        positional = [
            f"{ident}: {self.types.of(p.schema)}" for ident, p in self.args if p.source == "path"
        ]
        if self.body is not None and self.op.body is not None:
            annotation = self.types.of(self.op.body.schema)
            if self.op.body.required:
                positional.append(f"{self.body}: {annotation}")
            else:
                positional.append(f"{self.body}: {union([annotation, 'None'])} = None")
        required, optional = [], []
        for ident, param in self.args:
            annotation = self.types.of(param.schema)
            if param.source == "path":
                continue
            if param.required:
                required.append(f"{ident}: {annotation}")
            else:
                optional.append(f"{ident}: {union([annotation, 'None'])} = None")
        keyword = required + optional  # required ones first, as a reader expects
        return positional + (["*", *keyword] if keyword else [])

    def _def(self, prefix: str, name: str, first: list[str], returns: str) -> list[str]:
        params = first + self.signature()
        line = f"{prefix}def {name}({', '.join(params)}) -> {returns}:"
        if len(line) + 4 <= _WIDTH:
            return [f"    {line}" if first else line]
        indent = "    " if first else ""
        return [
            f"{indent}{prefix}def {name}(",
            *[f"{indent}    {param}," for param in params],
            f"{indent}) -> {returns}:",
        ]

    def method(self, *, asynchronous: bool) -> str:
        """The client method; for an event stream a plain ``def`` returning the stream."""
        events = self.op.result.kind == "events"
        prefix, returns = ("async " if asynchronous else ""), self.result
        send = "await self._send" if asynchronous else "self._send"
        if events:  # a plain def: what it returns is entered, not awaited
            prefix, send = "", "self._stream"
            returns = "AsyncEventStream" if asynchronous else "EventStream"
        lines = ["", *self._def(prefix, self.method_name, ["self"], returns)]
        doc = "\n\n".join(t for t in (self.op.summary, self.op.description) if t)
        doc = (doc or f"{self.op.method} {self.op.path}") + (
            "\n\nDeprecated by the API." if self.op.deprecated else ""
        )
        if events:
            doc += f"\n\nAnswers server-sent events as they come: see ``{returns}``."
        lines.extend(_docstring(doc, 8))
        names = [*(i for i, _ in self.args), *([self.body] if self.body else [])]
        arguments = [f"{name}={name}" for name in names]
        line = f"        return {send}({self.function_name}({', '.join(arguments)}))"
        if len(line) <= _WIDTH:
            lines.append(line)
        else:
            lines.append(f"        return {send}(")
            lines.append(f"            {self.function_name}(")
            lines.extend(f"                {argument}," for argument in arguments)
            lines.extend(["            )", "        )"])
        return "\n".join(lines) + "\n"

    def function(self) -> str:
        op = self.op
        lines = ["", "", *self._def("", self.function_name, [], f"_Call[{self.result}]")]
        errors = ", ".join(f"{status}: {self.types.names[name]}" for status, name in op.errors)
        url = _url(op.path, {p.name: i for i, p in self.args if p.source == "path"})
        arguments = [_string(op.method), url, _string(op.result.kind)]
        arguments += [f"result={self.result}"] if op.result.kind == "json" else []
        arguments += [f"errors={{{errors}}}"] if errors else []
        line = f"    call = _Call[{self.result}]({', '.join(arguments)})"
        if len(line) <= _WIDTH:
            lines.append(line)
        else:
            lines.append(f"    call = _Call[{self.result}](")
            for argument in arguments:
                if argument.startswith("errors=") and len(argument) + 9 > _WIDTH:
                    # One status a line, as ruff format would: the line fits the width.
                    lines.append("        errors={")
                    lines.extend(
                        f"            {status}: {self.types.names[name]},"
                        for status, name in op.errors
                    )
                    lines.append("        },")
                else:
                    lines.append(f"        {argument},")
            lines.append("    )")
        # A path parameter is in the URL (``_url``), never a form field as well.
        lines.extend(self._fill(i, param) for i, param in self.args if param.source != "path")
        if self.body is not None:
            if op.body is not None and not op.body.required:
                lines.append(f"    if {self.body} is not None:")
                lines.append(f"        call.content = msgspec.json.encode({self.body})")
            else:
                lines.append(f"    call.content = msgspec.json.encode({self.body})")
        lines.append("    return call")
        return "\n".join(lines) + "\n"

    def _fill(self, ident: str, param: Param) -> str:
        where = {
            "query": "_add(call.params",
            "header": "_header(call.headers",
            "cookie": "_cookie(call.headers",
        }.get(param.source)
        if where is None:  # a form field
            binary = "File" in self.types.of(param.schema)
            where = "_file(call.files" if binary else "_field(call.data"
        return f"    {where}, {_string(param.name)}, {ident})"


def _url(path: str, idents: Mapping[str, str]) -> str:
    text = path.replace("{", "{{").replace("}", "}}")
    if not idents:
        return _string(path)
    for wire, ident in idents.items():
        text = text.replace("{{" + wire + "}}", "{_path(" + ident + ")}")
    return "f" + _string(text)


def _string(text: str) -> str:
    """A double-quoted Python string literal (JSON's escapes are Python's too)."""
    return json.dumps(text, ensure_ascii=False)


def _literal(value: object) -> str:
    """Python source for a JSON value."""
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_string(k)}: {_literal(v)}" for k, v in value.items()) + "}"
    return repr(value)
