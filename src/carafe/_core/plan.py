"""The endpoint plan and how it runs per request. Sans I/O: nothing here sends or receives.

A handler and the dependencies it reaches become a flat tuple of ``Call``s in the order
they must run (dependencies first, the handler last), built once by ``build.py``. Each
``Call`` carries extractor closures, one per parameter, each already holding its
converter. Per request, ``Plan.resolve`` runs every extractor (collecting *all*
validation errors), then calls the dependencies in order: no ``inspect``, no type
hints, no graph walk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from carafe._core.unwind import AsyncGenExit, Exits, GenExit
from carafe.exceptions import ErrorDetail, RequestValidationError
from carafe.params import REQUIRED, Param

if TYPE_CHECKING:
    from carafe._concurrency import ThreadPool
    from carafe.extensions import Provider
    from carafe.requests import Request

__all__ = ["Call", "ParamInfo", "Plan"]

Extractor = Callable[["Request"], Any]
AsyncExtractor = Callable[["Request"], Awaitable[Any]]


@dataclasses.dataclass(slots=True)
class ParamInfo:
    """One request-derived parameter, as the plan (and the OpenAPI builder) sees it."""

    name: str
    key: str
    source: str
    annotation: Any
    default: Any
    marker: Param | None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED

    @property
    def loc(self) -> tuple[str | int, ...]:
        return (self.source, self.key)


@dataclasses.dataclass(slots=True)
class Call:
    """One function to call per request, with how to fill each of its parameters.

    Attributes:
        kind: ``async``, ``sync``, ``asyncgen`` or ``gen``.
        scope: ``"function"`` finishes a ``yield`` dependency before the response is
            sent; ``"request"`` after.
        scopes: The OAuth2 scopes required on the way here (``Security``).
        providers: The registry providers that fill some of its parameters.
        cleans_up: Some extractor may register request cleanups.
    """

    fn: Callable[..., Any]
    kind: str
    sync_params: tuple[tuple[str, Extractor], ...]
    async_params: tuple[tuple[str, AsyncExtractor], ...]
    dep_params: tuple[tuple[str, int], ...]
    params: tuple[ParamInfo, ...]
    scope: str = "request"
    scopes: tuple[str, ...] = ()
    providers: tuple[Provider, ...] = ()
    cleans_up: bool = False


class Plan:
    """What to extract and call, in order, for one endpoint."""

    __slots__ = (
        "calls",
        "has_generators",
        "params",
        "pool",
        "resolve",
        "resolve_sync",
        "takes_input",
    )

    def __init__(self, calls: tuple[Call, ...], pool: ThreadPool) -> None:
        self.calls = calls
        self.pool = pool
        self.params = tuple(p for call in calls for p in call.params)
        self.has_generators = any(c.kind in ("asyncgen", "gen") for c in calls)
        handler = calls[-1]
        self.takes_input = bool(
            len(calls) > 1 or handler.sync_params or handler.async_params or handler.dep_params
        )
        self.resolve: Callable[[Request, Exits | None], Awaitable[dict[str, Any]]]
        # PERF: a handler without dependencies skips the call list entirely, and one
        # that reads no body is resolved without a coroutine (bench/inprocess.py,
        # GET /items/42?q=x: 10.0 -> 8.9 µs).
        self.resolve = self._resolve_graph if len(calls) > 1 else self._resolve_handler
        self.resolve_sync: Callable[[Request], dict[str, Any]] | None = None
        if len(calls) == 1 and not handler.async_params:
            self.resolve_sync = self._resolve_handler_sync

    @property
    def providers(self) -> tuple[Provider, ...]:
        """Every provider some call of the plan uses, once each."""
        found: dict[int, Provider] = {}
        for call in self.calls:
            for provider in call.providers:
                found.setdefault(id(provider), provider)
        return tuple(found.values())

    @property
    def cleans_up(self) -> bool:
        """Whether some extractor may register request cleanups."""
        return any(call.cleans_up for call in self.calls)

    def _resolve_handler_sync(self, request: Request) -> dict[str, Any]:
        kwargs, errors = _extract_sync(self.calls[0], request, None)
        if errors:
            raise RequestValidationError(errors)
        return kwargs

    async def _resolve_handler(self, request: Request, exits: Exits | None) -> dict[str, Any]:
        kwargs, errors = await _extract(self.calls[0], request, None)
        if errors:
            raise RequestValidationError(errors)
        return kwargs

    async def _resolve_graph(self, request: Request, exits: Exits | None) -> dict[str, Any]:
        calls = self.calls
        errors: list[ErrorDetail] | None = None
        prepared: list[dict[str, Any]] = []
        # PERF: a call whose parameters are all read without awaiting (headers, the
        # query, the request) is extracted without a coroutine, and an async dependency
        # is awaited here rather than through _invoke (bench/inprocess.py, case deps).
        for call in calls:
            if call.async_params:
                kwargs, errors = await _extract(call, request, errors)
            else:
                kwargs, errors = _extract_sync(call, request, errors)
            prepared.append(kwargs)
        if errors:
            raise RequestValidationError(errors)
        values: list[Any] = [None] * len(calls)
        last = len(calls) - 1
        for index, call in enumerate(calls):
            kwargs = prepared[index]
            for name, source in call.dep_params:
                kwargs[name] = values[source]
            if index == last:
                return kwargs
            if call.kind == "async":
                values[index] = await call.fn(**kwargs)
            else:
                values[index] = await _invoke(call, kwargs, exits, self.pool)
        raise AssertionError("unreachable")  # pragma: no cover


def _extract_sync(
    call: Call, request: Request, errors: list[ErrorDetail] | None
) -> tuple[dict[str, Any], list[ErrorDetail] | None]:
    kwargs: dict[str, Any] = {}
    for name, extract in call.sync_params:
        try:
            kwargs[name] = extract(request)
        except RequestValidationError as exc:
            errors = (errors or []) + exc.errors
    return kwargs, errors


async def _extract(
    call: Call, request: Request, errors: list[ErrorDetail] | None
) -> tuple[dict[str, Any], list[ErrorDetail] | None]:
    kwargs, errors = _extract_sync(call, request, errors)
    for name, extract_async in call.async_params:
        try:
            value = await extract_async(request)
        except RequestValidationError as exc:
            errors = (errors or []) + exc.errors
            continue
        if name:
            kwargs[name] = value
        else:  # several parameters read from one body
            kwargs.update(value)
    return kwargs, errors


_NOTHING: Any = object()


async def _invoke(call: Call, kwargs: dict[str, Any], exits: Exits | None, pool: ThreadPool) -> Any:
    kind = call.kind
    if kind == "async":
        return await call.fn(**kwargs)
    if kind == "sync":
        return await pool.run(call.fn, **kwargs)
    assert exits is not None
    opened = exits.function if call.scope == "function" else exits.request
    # PERF: generators are driven directly rather than through contextlib's
    # asynccontextmanager, which wraps the function on every call (bench/inprocess.py,
    # case deps: about 24 -> 9.3 µs).
    if kind == "asyncgen":
        agen = call.fn(**kwargs)
        try:
            value = await agen.__anext__()
        except StopAsyncIteration:
            raise RuntimeError(f"Dependency {_name(call.fn)} did not yield") from None
        opened.append(AsyncGenExit(agen))
        return value
    gen = call.fn(**kwargs)
    value = await pool.run(next, gen, _NOTHING)
    if value is _NOTHING:
        raise RuntimeError(f"Dependency {_name(call.fn)} did not yield")
    opened.append(GenExit(gen, pool))
    return value


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)
