"""JSON Schema to Python type expressions, and safe Python names. Sans I/O.

>>> item = {"$ref": "#/components/schemas/Item"}
>>> Types({"Item": "Item"}).of({"anyOf": [item, {"type": "null"}]})
'Item | None'
"""

from __future__ import annotations

import builtins
import json
import keyword
import re
from collections.abc import Iterable, Mapping
from typing import Any

from carafe.clients._operations import Schema, SchemaTypes, snake_case

__all__ = [
    "ANNOTATION_NAMES",
    "ARGUMENT_NAMES",
    "RESERVED",
    "STREAM_NAMES",
    "Types",
    "identifier",
    "union",
    "unique",
]

# Names the generated module defines or uses at its top level: no class or method takes one.
RESERVED = frozenset(
    {
        "httpx",
        "msgspec",
        "datetime",
        "uuid",
        "dataclasses",
        "quote",
        "Any",
        "Generic",
        "Literal",
        "Mapping",
        "TypeVar",
        "Client",
        "AsyncClient",
        "APIError",
        "File",
        "close",
        "aclose",
        "http",
        "headers",
        *(name for name in dir(builtins) if not name.startswith("_")),
    }
)
# What a client for an API with event streams defines or imports besides.
STREAM_NAMES = frozenset(
    {
        "contextlib",
        "AsyncGenerator",
        "AsyncIterator",
        "Generator",
        "Iterator",
        "ServerSentEvent",
        "EventStream",
        "AsyncEventStream",
    }
)
# What a Struct's annotations may name: no field takes one (nor a class's name).
ANNOTATION_NAMES = frozenset(
    {"str", "int", "float", "bool", "list", "dict", "tuple", "bytes", "Any", "Literal", "File"}
    | {"datetime", "uuid", "msgspec"}
)
# What a request builder's body uses: no argument takes one.
ARGUMENT_NAMES = frozenset({"self", "call", "msgspec"})
_FORMATS = {  # what the document's ``format`` says, msgspec decodes
    "date-time": "datetime.datetime",
    "date": "datetime.date",
    "time": "datetime.time",
    "duration": "datetime.timedelta",
    "uuid": "uuid.UUID",
    "binary": "File",
}
_SIMPLE = {"integer": "int", "number": "float", "boolean": "bool", "null": "None"}


def identifier(name: str, reserved: Iterable[str], *, snake: bool = True) -> str:
    """A Python identifier for ``name``: not a keyword, not one of ``reserved``.

    >>> identifier("x-editor", ()), identifier("class", ()), identifier("2fa", ())
    ('x_editor', 'class_', 'n2fa')
    """
    if snake:
        text = snake_case(name)
    elif name.isidentifier():
        text = name
    else:
        text = re.sub(r"\W+", "_", name).strip("_") or "_"
    if text[0].isdigit() or text[0] == "_":
        text = "n" + text.lstrip("_")
    if keyword.iskeyword(text) or text in reserved:
        text += "_"
    return text


def unique(name: str, taken: set[str]) -> str:
    """``name``, or ``name_2``, ``name_3``... the first one not in ``taken`` (then taken)."""
    candidate, number = name, 2
    while candidate in taken:
        candidate, number = f"{name}_{number}", number + 1
    taken.add(candidate)
    return candidate


class Types(SchemaTypes):
    """Turns schemas into type expressions; ``names`` maps components to Python names."""

    def __init__(self, names: Mapping[str, str]) -> None:
        super().__init__(names)
        self.modules: set[str] = set()  # what the expressions import: datetime, uuid, Literal

    def literal(self, values: list[Any]) -> str:
        return self._literal(values)

    def union(self, parts: Iterable[str]) -> str:
        return union(parts)

    def typed(self, kind: Any, schema: Schema) -> str:
        return self._typed(kind, schema)

    def _typed(self, kind: Any, schema: Schema) -> str:
        if kind == "string":
            found = _FORMATS.get(schema.get("format", ""), "str")
            if "." in found:
                self.modules.add(found.split(".")[0])
            return found
        if kind in _SIMPLE:
            return _SIMPLE[kind]
        if kind == "array":
            if "prefixItems" in schema:
                members = ", ".join(self.of(item) for item in schema["prefixItems"])
                return f"tuple[{members}]"
            return f"list[{self.of(schema.get('items', {}))}]"
        if kind == "object" or "properties" in schema or "additionalProperties" in schema:
            extra = schema.get("additionalProperties")
            value = self.of(extra) if isinstance(extra, Mapping) else "Any"
            return f"dict[str, {value}]"
        return "Any"

    def _literal(self, values: list[Any]) -> str:
        if any(isinstance(v, float | dict | list) for v in values):
            return union(self.of({"type": _json_type(v)}) for v in values)
        members = [json.dumps(v, ensure_ascii=False) for v in values if v is not None]
        if members:
            self.modules.add("Literal")
        text = f"Literal[{', '.join(members)}]" if members else "None"
        return union([text, "None"]) if None in values else text


def _json_type(value: Any) -> str:
    for kind, python in (
        ("boolean", bool),
        ("integer", int),
        ("number", float),
        ("string", str),
        ("array", list),
    ):
        if isinstance(value, python):
            return kind
    return "object" if isinstance(value, dict) else "null"


def union(members: Iterable[str]) -> str:
    """``A | B | None``: each member once, ``Any`` swallowing the rest, ``None`` last."""
    seen: list[str] = []
    for member in members:
        for part in _split(member):
            if part not in seen:
                seen.append(part)
    if "Any" in seen:
        return "Any"
    if "None" in seen:
        seen.remove("None")
        seen.append("None")
    return " | ".join(seen) or "Any"


def _split(expression: str) -> list[str]:
    """The top-level members of ``A | list[B | C]``: ``['A', 'list[B | C]']``."""
    parts, depth, start, quote = [], 0, 0, ""
    for index, char in enumerate(expression):
        if quote:
            if char == quote and expression[index - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif char == "|" and depth == 0:
            parts.append(expression[start:index].strip())
            start = index + 1
    parts.append(expression[start:].strip())
    return parts
