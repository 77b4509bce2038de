"""Path templates: ``/items/{item_id}`` parsed once into segments, and built back into URLs.

A parameter fills a whole segment. ``{name:path}`` takes the rest of the path,
slashes included, and must come last.

>>> t = PathTemplate("/files/{owner}/{rest:path}")
>>> t.segments, t.param_names, t.catch_all
(['', 'files', None, None], ('owner', 'rest'), True)
>>> t.build({"owner": "ann", "rest": "a b/c.txt"})
'/files/ann/a%20b/c.txt'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from carafe.exceptions import ConfigurationError, URLBuildError

__all__ = ["PathTemplate", "join_paths"]


def join_paths(prefix: str, path: str) -> str:
    """``join_paths("/api", "/items")`` -> ``"/api/items"``; ``("/api", "")`` -> ``"/api"``."""
    return prefix.rstrip("/") + path if prefix else path


class PathTemplate:
    """A route path split into literal segments and parameter slots (``None``)."""

    __slots__ = ("catch_all", "param_names", "path", "segments")

    def __init__(self, path: str) -> None:
        if not path.startswith("/"):
            raise ConfigurationError(f"Route path {path!r} must start with '/'")
        self.path = path
        segments: list[str | None] = []
        names: list[str] = []
        self.catch_all = False
        parts = path.split("/")
        for index, part in enumerate(parts):
            if part in (".", ".."):
                raise ConfigurationError(
                    f"Route path {path!r} has a {part!r} segment; no request reaches it"
                )
            if "{" not in part and "}" not in part:
                segments.append(part)
                continue
            name, kind = self._parse_param(part)
            if name in names:
                raise ConfigurationError(f"Route path {path!r} names {{{name}}} twice")
            if kind == "path":
                if index != len(parts) - 1:
                    raise ConfigurationError(
                        f"In route path {path!r}, {{{name}:path}} must be the last segment"
                    )
                self.catch_all = True
            names.append(name)
            segments.append(None)
        self.segments = segments
        self.param_names = tuple(names)

    def _parse_param(self, part: str) -> tuple[str, str]:
        if not (part.startswith("{") and part.endswith("}")) or part.count("{") != 1:
            raise ConfigurationError(
                f"Route path {self.path!r}: a parameter must fill a whole segment, "
                f"like /items/{{item_id}}; got {part!r}"
            )
        name, _, kind = part[1:-1].partition(":")
        if not name.isidentifier():
            raise ConfigurationError(f"Route path {self.path!r}: {name!r} is not a valid name")
        if kind not in ("", "path"):
            raise ConfigurationError(
                f"Route path {self.path!r}: unknown converter {kind!r}; the type comes from "
                "the handler's annotation, and only ':path' is recognised here"
            )
        return name, kind

    @property
    def is_static(self) -> bool:
        return not self.param_names

    def build(self, params: Mapping[str, Any]) -> str:
        """The path with ``params`` filled in, percent-encoded."""
        missing = [name for name in self.param_names if name not in params]
        extra = [name for name in params if name not in self.param_names]
        if missing or extra:
            raise URLBuildError(
                f"Route {self.path!r} needs exactly {sorted(self.param_names)}; "
                f"got {sorted(params)}"
            )
        out: list[str] = []
        names = iter(self.param_names)
        for segment in self.segments:
            if segment is not None:
                out.append(segment)
                continue
            name = next(names)
            value = str(params[name])
            last = self.catch_all and name == self.param_names[-1]
            out.append(quote(value, safe="/" if last else ""))
        return "/".join(out)

    def __repr__(self) -> str:
        return f"PathTemplate({self.path!r})"
