"""The route table: a dict for static paths, then a segment trie for the rest.

A lookup costs one dict probe for a static path and one dict probe per segment for a
dynamic one, whatever the number of routes. Literal segments win over parameters, and
parameters over a ``{rest:path}`` catch-all; the walk backtracks when a literal branch
dead-ends, so ``/users/me`` and ``/users/{id}/posts`` both match what they should.

A path with a ``.`` or ``..`` segment matches no dynamic route: the server decodes
``%2e%2e`` to ``..`` and resolves neither, so ``/public/../admin`` would hand
``../admin`` to a ``{rest:path}`` parameter and defeat a check on the prefix. Browsers
never send such a path (they resolve dot segments first); it is answered with 404.

Each leaf holds a method table ``{"GET": endpoint, ...}`` shared by every route with
that path shape. Parameter values are returned in path order; each endpoint knows its
own parameter names.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from carafe.exceptions import ConfigurationError
from carafe.routing.paths import PathTemplate

__all__ = ["MethodTable", "RouteTable"]

E = TypeVar("E")


class MethodTable(dict[str, E]):
    """Endpoints by method for one path shape, with the ``Allow`` header precomputed."""

    __slots__ = ("allow", "path")

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        self.allow = ""

    def seal(self) -> None:
        self.allow = ", ".join(sorted(self))


class _Node(Generic[E]):
    __slots__ = ("catch_all", "children", "param", "table")

    def __init__(self) -> None:
        self.children: dict[str, _Node[E]] = {}
        self.param: _Node[E] | None = None
        self.catch_all: MethodTable[E] | None = None
        self.table: MethodTable[E] | None = None


class RouteTable(Generic[E]):
    """Static dict + segment trie, filled at startup and read per request."""

    __slots__ = ("_root", "static")

    def __init__(self) -> None:
        self.static: dict[str, MethodTable[E]] = {}
        self._root: _Node[E] = _Node()

    def add(self, template: PathTemplate, method: str, endpoint: E) -> None:
        table = self._table_for(template)
        if method in table:
            raise ConfigurationError(f"Two routes answer {method} {template.path}")
        table[method] = endpoint
        table.seal()

    def _table_for(self, template: PathTemplate) -> MethodTable[E]:
        if template.is_static:
            table = self.static.get(template.path)
            if table is None:
                table = self.static[template.path] = MethodTable(template.path)
            return table
        node = self._root
        segments = template.segments[1:]
        if template.catch_all:
            segments = segments[:-1]
        for segment in segments:
            if segment is None:
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                child = node.children.get(segment)
                if child is None:
                    child = node.children[segment] = _Node()
                node = child
        if template.catch_all:
            if node.catch_all is None:
                node.catch_all = MethodTable(template.path)
            return node.catch_all
        if node.table is None:
            node.table = MethodTable(template.path)
        return node.table

    def match(self, path: str) -> tuple[MethodTable[E], list[str]] | None:
        """The method table for ``path`` and the parameter values, or None."""
        table = self.static.get(path)
        if table is not None:
            return table, []
        values: list[str] = []
        parts = path.split("/")
        # PERF: one substring search per dynamic lookup; the segments only when it hits.
        if "/." in path and ("." in parts or ".." in parts):
            return None
        found = _walk(self._root, parts, 1, len(parts), values)
        return None if found is None else (found, values)


def _walk(
    node: _Node[E], parts: list[str], i: int, n: int, values: list[str]
) -> MethodTable[E] | None:
    if i == n:
        return node.table
    segment = parts[i]
    child = node.children.get(segment)
    if child is not None:
        found = _walk(child, parts, i + 1, n, values)
        if found is not None:
            return found
    param = node.param
    if param is not None and segment:
        values.append(segment)
        found = _walk(param, parts, i + 1, n, values)
        if found is not None:
            return found
        values.pop()
    if node.catch_all is not None:
        values.append("/".join(parts[i:]))
        return node.catch_all
    return None
