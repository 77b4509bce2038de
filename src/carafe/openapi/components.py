"""JSON Schemas for Python types, with shared models pulled out into named components.

msgspec writes the schemas of Structs, dataclasses and TypedDicts (all of them in one
pass, so it can name two ``Item`` classes from different modules apart); a codec plugin
with a ``json_schema`` method (pydantic's) writes the schemas of the types it claims.
Whatever comes from where, component names end up unique: a name already taken by a
different schema is qualified with the class's module, or numbered when there is no class.

    >>> registry = Components()
    >>> registry.add(list[Item])
    >>> registry.generate()
    >>> registry.schema(list[Item])
    {'type': 'array', 'items': {'$ref': '#/components/schemas/Item'}}
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable
from typing import Any, get_args, get_origin

import msgspec

from carafe._core import codecs

__all__ = ["REF_PREFIX", "Components", "is_upload"]

REF_PREFIX = "#/components/schemas/"
_MSGSPEC_REF = REF_PREFIX + "{name}"
_PLUGIN_REF = REF_PREFIX + "{model}"
_BINARY: dict[str, Any] = {"type": "string", "format": "binary"}


def is_upload(tp: Any) -> bool:
    """Whether ``tp`` is an uploaded file type (``UploadFile`` from ``carafe.forms``)."""
    return (
        isinstance(tp, type) and tp.__name__ == "UploadFile" and tp.__module__.startswith("carafe")
    )


def _upload_schema(tp: Any) -> dict[str, Any] | None:
    """A schema for upload types (``UploadFile``, a list of them, optional), else None."""
    inner, optional = codecs.unwrap_optional(tp)
    if get_origin(inner) is typing.Annotated:
        inner = get_args(inner)[0]
    if is_upload(inner) or inner is bytes:
        schema: dict[str, Any] = dict(_BINARY)
    elif get_origin(inner) in (list, tuple, set, frozenset) and get_args(inner):
        item = _upload_schema(get_args(inner)[0])
        if item is None or get_args(inner)[0] is bytes:
            return None
        schema = {"type": "array", "items": item}
    else:
        return None
    if optional:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _normalize(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9.\-_]", "_", name)


def _rewrite_refs(node: Any, renamed: dict[str, str]) -> Any:
    """``node`` with every ``$ref`` to a renamed component pointed at its new name."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith(REF_PREFIX):
                name = value[len(REF_PREFIX) :]
                out[key] = REF_PREFIX + renamed.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renamed)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renamed) for item in node]
    return node


Mode = str  # "validation" (what clients send) or "serialization" (what the app sends)


def _key(tp: Any, mode: Mode) -> Any:
    try:
        hash(tp)
    except TypeError:  # e.g. Annotated[...] with unhashable metadata
        return (id(tp), mode)
    return (tp, mode)


class Components:
    """Collects types, then writes their schemas and the shared components in one go."""

    def __init__(self, plugins: codecs.Plugins = None) -> None:
        self.plugins = plugins  # the app's codec plugins (default: pydantic's)
        self._types: dict[Any, tuple[Any, Mode]] = {}
        self._schemas: dict[Any, dict[str, Any]] = {}
        self._owners: dict[str, Any] = {}  # component name -> the class it describes
        self.schemas: dict[str, Any] = {}

    def add(self, tp: Any, mode: Mode = "serialization") -> None:
        """Ask for the schema of ``tp``; call before ``generate``."""
        self._types.setdefault(_key(tp, mode), (tp, mode))

    def add_component(self, name: str, schema: dict[str, Any]) -> str:
        """Add a hand-written component; returns its ``$ref``."""
        self.schemas[name] = schema
        return REF_PREFIX + name

    def schema(self, tp: Any, mode: Mode = "serialization") -> dict[str, Any]:
        """The schema of ``tp`` (a ``$ref`` for models); ``{}`` for a type with none."""
        found = self._schemas.get(_key(tp, mode))
        return dict(found) if found is not None else {}

    def generate(self) -> None:
        """Write the schemas of every added type."""
        native: dict[Any, Any] = {}
        for key, (tp, mode) in self._types.items():
            upload = _upload_schema(tp)
            if upload is not None:
                self._schemas[key] = upload
                continue
            plugin = codecs._plugin_for(tp, self.plugins)
            if plugin is not None and hasattr(plugin, "json_schema"):
                self._from_plugin(key, tp, mode, plugin)
            else:
                native.setdefault(_key(tp, ""), (tp, []))[1].append(key)
        self._from_msgspec(list(native.values()))

    # --- msgspec --------------------------------------------------------------------

    def _from_msgspec(self, wanted: list[tuple[Any, list[Any]]]) -> None:
        # msgspec has one schema per type, whichever way the data flows.
        if not wanted:
            return
        types = [tp for tp, _ in wanted]
        try:
            schemas, defs = msgspec.json.schema_components(types, ref_template=_MSGSPEC_REF)
        except (TypeError, ValueError, KeyError):
            # NOTE: one type msgspec cannot describe (or two generic aliases whose names
            # clash, which msgspec 0.18-0.22 fails on) must not cost the others theirs.
            for tp, keys in wanted:
                self._one_from_msgspec(tp, keys)
            return
        for (tp, keys), schema in zip(wanted, schemas, strict=True):
            merged = self._merge(tp, "", schema, defs)
            self._schemas.update(dict.fromkeys(keys, merged))

    def _one_from_msgspec(self, tp: Any, keys: list[Any]) -> None:
        try:
            (schema,), defs = msgspec.json.schema_components([tp], ref_template=_MSGSPEC_REF)
        except (TypeError, ValueError, KeyError):
            self._schemas.update({key: {} for key in keys})
            return
        merged = self._merge(tp, "", schema, defs)
        self._schemas.update(dict.fromkeys(keys, merged))

    # --- plugins (pydantic) -----------------------------------------------------------

    def _from_plugin(self, key: Any, tp: Any, mode: Mode, plugin: Any) -> None:
        try:
            schema = dict(plugin.json_schema(tp, ref_template=_PLUGIN_REF, mode=mode))
        except Exception:
            self._schemas[key] = {}
            return
        defs = schema.pop("$defs", {})
        if "$ref" not in schema and "title" in schema and isinstance(tp, type):
            # A top-level model comes back inline: make it a component like the others.
            defs = {**defs, schema["title"]: schema}
            schema = {"$ref": REF_PREFIX + schema["title"]}
        self._schemas[key] = self._merge(tp, mode, schema, defs)

    # --- Naming ---------------------------------------------------------------------

    def _merge(
        self, tp: Any, mode: Mode, schema: dict[str, Any], defs: dict[str, Any]
    ) -> dict[str, Any]:
        """Add ``defs`` to the components, renaming any that clash; returns ``schema``."""
        renamed: dict[str, str] = {}
        changed = True
        while changed:  # a rename changes the refs of others, which may then clash too
            changed = False
            for name, definition in defs.items():
                known = self.schemas.get(name)
                if name in renamed or known is None:
                    continue
                if known != _rewrite_refs(definition, renamed):
                    renamed[name] = self._free_name(name, _find_class(tp, name), mode, defs)
                    changed = True
        for name, definition in defs.items():
            final = renamed.get(name, name)
            self.schemas[final] = _rewrite_refs(definition, renamed)
            self._owners.setdefault(final, _find_class(tp, name))
        return typing.cast(dict[str, Any], _rewrite_refs(schema, renamed))

    def _free_name(self, name: str, tp: Any, mode: Mode, defs: Iterable[str]) -> str:
        taken = set(self.schemas) | set(defs)
        candidates = []
        if tp is not None and self._owners.get(name) is tp and mode:
            # One model, two shapes (it reads and writes differently): pydantic's names.
            candidates.append(f"{name}-{'Output' if mode == 'serialization' else 'Input'}")
        if tp is not None:
            candidates.append(_normalize(f"{getattr(tp, '__module__', '')}.{_type_name(tp)}"))
        for candidate in candidates:
            if candidate not in taken:
                return candidate
        number = 2
        while f"{name}{number}" in taken:
            number += 1
        return f"{name}{number}"


def _find_class(tp: Any, name: str, depth: int = 0) -> Any:
    """The class (or generic alias) inside ``tp`` that a component called ``name`` is for."""
    if depth > 6:
        return None
    if _normalize(_short_name(tp)) == name:
        return tp
    inner = list(get_args(tp))
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        inner.extend(field.type for field in msgspec.structs.fields(tp))
    for arg in inner:
        found = _find_class(arg, name, depth + 1)
        if found is not None:
            return found
    return None


def _short_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is None:
        return str(getattr(tp, "__name__", ""))
    return f"{_short_name(origin)}[{', '.join(_short_name(a) for a in get_args(tp))}]"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is None:
        return str(getattr(tp, "__qualname__", repr(tp)))
    args = ", ".join(f"{getattr(a, '__module__', '')}.{_type_name(a)}" for a in get_args(tp))
    return f"{_type_name(origin)}[{args}]"
