"""Markers that say where a handler parameter comes from, and how it is checked.

Use them as defaults or, better, inside ``Annotated``::

    async def search(
        q: Annotated[str, Query(min_length=2)],
        page: Annotated[int, Query(ge=1)] = 1,
        agent: Annotated[str | None, Header(alias="User-Agent")] = None,
    ) -> list[Item]: ...

Without a marker: a name in the path is a path parameter, ``Request`` (and other
registered types) are injected, a model type (msgspec Struct, dataclass, TypedDict,
pydantic model, or a list of them) is the JSON body, anything else is a query parameter.
"""

from __future__ import annotations

from typing import Any, ClassVar, TypedDict, Unpack

__all__ = ["Body", "Constraints", "Cookie", "Header", "Param", "Path", "Query"]


class _Required:
    __slots__ = ()

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


class Constraints(TypedDict, total=False):
    """Value checks, as in JSON Schema (and msgspec's ``Meta``)."""

    gt: float
    ge: float
    lt: float
    le: float
    multiple_of: float
    min_length: int
    max_length: int
    pattern: str


class Param:
    """Where a value comes from (``source``), under which name, with which checks.

    Args:
        default: The value when the client sends none; without it the parameter is required.
        alias: The name on the wire, when it differs from the argument's name.
        description: Shown in the OpenAPI document.
        examples: Example values for the OpenAPI document.
        deprecated: Marks the parameter deprecated in the OpenAPI document.
        include_in_schema: False hides the parameter from the OpenAPI document.
        **constraints: ``gt``, ``ge``, ``lt``, ``le``, ``multiple_of``, ``min_length``,
            ``max_length``, ``pattern``, checked on every request.
    """

    source: ClassVar[str] = "query"

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        alias: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
        **constraints: Unpack[Constraints],
    ) -> None:
        self.default = default
        self.alias = alias
        self.description = description
        self.examples = examples
        self.deprecated = deprecated
        self.include_in_schema = include_in_schema
        self.constraints = constraints

    def __repr__(self) -> str:
        return f"{type(self).__name__}(alias={self.alias!r})"


class Path(Param):
    """A segment of the route's path: ``{item_id}`` in ``/items/{item_id}``."""

    source = "path"


class Query(Param):
    """A query-string parameter: ``q`` in ``/items?q=shoes``."""

    source = "query"


class Header(Param):
    """A request header: ``user_agent`` reads ``user-agent`` (``convert_underscores=False``
    keeps the name as it is)."""

    source = "header"

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        convert_underscores: bool = True,
        alias: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        deprecated: bool = False,
        include_in_schema: bool = True,
        **constraints: Unpack[Constraints],
    ) -> None:
        super().__init__(
            default,
            alias=alias,
            description=description,
            examples=examples,
            deprecated=deprecated,
            include_in_schema=include_in_schema,
            **constraints,
        )
        self.convert_underscores = convert_underscores


class Cookie(Param):
    """A request cookie, by the parameter's name (or ``alias``)."""

    source = "cookie"


class Body(Param):
    """The JSON body, or (``embed=True``, or several body parameters) one key of it."""

    source = "body"

    def __init__(
        self,
        default: Any = REQUIRED,
        *,
        embed: bool = False,
        media_type: str = "application/json",
        alias: str | None = None,
        description: str | None = None,
        examples: list[Any] | None = None,
        **constraints: Unpack[Constraints],
    ) -> None:
        super().__init__(
            default, alias=alias, description=description, examples=examples, **constraints
        )
        self.embed = embed
        self.media_type = media_type
