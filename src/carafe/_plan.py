"""Signature -> endpoint plan, once at startup. Sans I/O: nothing here sends or receives.

A handler and the dependencies it reaches become a flat tuple of ``Call``s in the order
they must run (dependencies first, the handler last). Each ``Call`` carries extractor
closures, one per parameter, each already holding its converter. Per request,
``Plan.resolve`` runs every extractor (collecting *all* validation errors), then calls
the dependencies in order: no ``inspect``, no type hints, no graph walk.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import sys
import typing
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, get_args, get_origin

import msgspec

from carafe import codecs
from carafe._concurrency import run_sync
from carafe.di import AppScope, Dependency
from carafe.exceptions import (
    ConfigurationError,
    ErrorDetail,
    HTTPError,
    RequestValidationError,
    elide,
)
from carafe.params import REQUIRED, Body, Header, Param
from carafe.requests import Request, read_body

__all__ = ["Call", "ParamInfo", "Plan", "build_plan", "register_injectable"]

Extractor = Callable[[Request], Any]
AsyncExtractor = Callable[[Request], Awaitable[Any]]
BodyBuilder = Callable[[list["ParamInfo"]], AsyncExtractor]

# Types filled from the request itself, by annotation: Request, and whatever other
# modules register (the session, background tasks, a websocket...).
_injectables: dict[type, Callable[[Request], Any]] = {Request: lambda request: request}
# How each non-JSON body kind is read; carafe.forms registers "form" and "file".
_body_builders: dict[str, BodyBuilder] = {}


def register_injectable(tp: type, factory: Callable[[Request], Any]) -> None:
    """Fill parameters annotated ``tp`` (or a subclass) with ``factory(request)``.

    ``factory`` may be an ``async def`` (a session loaded from Redis); it is awaited.
    """
    _injectables[tp] = factory


def register_body_builder(source: str, builder: BodyBuilder) -> None:
    """Read parameters whose marker's ``source`` is ``source`` from the body with ``builder``."""
    _body_builders[source] = builder


# Types whose parameters come from one source without a marker (``UploadFile`` -> "file").
_typed_sources: dict[Any, str] = {}


def register_typed_source(tp: type, source: str) -> None:
    """Read unmarked parameters annotated ``tp``, ``tp | None`` or ``list[tp]`` from ``source``."""
    _typed_sources[tp] = source


def _typed_source(tp: Any) -> str | None:
    inner, _ = codecs.unwrap_optional(tp)
    if get_origin(inner) in (list, tuple, set, frozenset) and get_args(inner):
        inner = get_args(inner)[0]
    return _typed_sources.get(inner) if isinstance(inner, type) else None


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
    """One function to call per request, with how to fill each of its parameters."""

    fn: Callable[..., Any]
    kind: str  # "async" | "sync" | "asyncgen" | "gen"
    sync_params: tuple[tuple[str, Extractor], ...]
    async_params: tuple[tuple[str, AsyncExtractor], ...]
    dep_params: tuple[tuple[str, int], ...]
    params: tuple[ParamInfo, ...]


class Plan:
    """What to extract and call, in order, for one endpoint."""

    __slots__ = ("calls", "has_generators", "params", "resolve", "resolve_sync", "takes_input")

    def __init__(self, calls: tuple[Call, ...]) -> None:
        self.calls = calls
        self.params = tuple(p for call in calls for p in call.params)
        self.has_generators = any(c.kind in ("asyncgen", "gen") for c in calls)
        handler = calls[-1]
        self.takes_input = bool(
            len(calls) > 1 or handler.sync_params or handler.async_params or handler.dep_params
        )
        self.resolve: Callable[
            [Request, contextlib.AsyncExitStack | None], Awaitable[dict[str, Any]]
        ]
        # PERF: a handler without dependencies skips the call list entirely, and one
        # that reads no body is resolved without a coroutine (bench/inprocess.py,
        # GET /items/42?q=x: 10.0 -> 8.9 µs).
        self.resolve = self._resolve_graph if len(calls) > 1 else self._resolve_handler
        self.resolve_sync: Callable[[Request], dict[str, Any]] | None = None
        if len(calls) == 1 and not handler.async_params:
            self.resolve_sync = self._resolve_handler_sync

    def _resolve_handler_sync(self, request: Request) -> dict[str, Any]:
        kwargs, errors = _extract_sync(self.calls[0], request, None)
        if errors:
            raise RequestValidationError(errors)
        return kwargs

    async def _resolve_handler(
        self, request: Request, stack: contextlib.AsyncExitStack | None
    ) -> dict[str, Any]:
        kwargs, errors = await _extract(self.calls[0], request, None)
        if errors:
            raise RequestValidationError(errors)
        return kwargs

    async def _resolve_graph(
        self, request: Request, stack: contextlib.AsyncExitStack | None
    ) -> dict[str, Any]:
        calls = self.calls
        errors: list[ErrorDetail] | None = None
        prepared: list[dict[str, Any]] = []
        for call in calls:
            kwargs, errors = await _extract(call, request, errors)
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
            values[index] = await _invoke(call, kwargs, stack)
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


async def _invoke(
    call: Call, kwargs: dict[str, Any], stack: contextlib.AsyncExitStack | None
) -> Any:
    kind = call.kind
    if kind == "async":
        return await call.fn(**kwargs)
    if kind == "sync":
        return await run_sync(call.fn, **kwargs)
    assert stack is not None
    # PERF: generators are driven directly rather than through contextlib's
    # asynccontextmanager, which wraps the function on every call (bench/inprocess.py,
    # case deps: about 24 -> 9.3 µs).
    if kind == "asyncgen":
        agen = call.fn(**kwargs)
        try:
            value = await agen.__anext__()
        except StopAsyncIteration:
            raise RuntimeError(f"Dependency {_name(call.fn)} did not yield") from None
        stack.push_async_exit(_AsyncGenExit(agen))
        return value
    gen = call.fn(**kwargs)
    value = await run_sync(next, gen, _NOTHING)
    if value is _NOTHING:
        raise RuntimeError(f"Dependency {_name(call.fn)} did not yield")
    stack.push_async_exit(_GenExit(gen))
    return value


_NOTHING: Any = object()


class _AsyncGenExit:
    """Finishes a ``yield`` dependency: resumes it, or throws the handler's error in."""

    __slots__ = ("gen",)

    def __init__(self, gen: Any) -> None:
        self.gen = gen

    async def __call__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        gen = self.gen
        if exc is None:
            try:
                await gen.__anext__()
            except StopAsyncIteration:
                return False
            raise RuntimeError(f"Dependency {_name(gen)} yielded more than once")
        try:
            await gen.athrow(exc)
        except StopAsyncIteration:
            return True  # the dependency swallowed the error
        except BaseException as raised:
            if raised is exc:
                return False
            raise
        raise RuntimeError(f"Dependency {_name(gen)} yielded again after an error")


class _GenExit:
    """``_AsyncGenExit`` for a sync generator, finished in the thread pool."""

    __slots__ = ("gen",)

    def __init__(self, gen: Any) -> None:
        self.gen = gen

    async def __call__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        # NOTE: StopIteration cannot cross a thread pool future, so it is caught there.
        return await run_sync(_finish_generator, self.gen, exc)


def _finish_generator(gen: Any, exc: BaseException | None) -> bool:
    if exc is None:
        try:
            next(gen)
        except StopIteration:
            return False
        raise RuntimeError(f"Dependency {_name(gen)} yielded more than once")
    try:
        gen.throw(exc)
    except StopIteration:
        return True
    except BaseException as raised:
        if raised is exc:
            return False
        raise
    raise RuntimeError(f"Dependency {_name(gen)} yielded again after an error")


# --- Building -------------------------------------------------------------------------


def call_kind(fn: Callable[..., Any]) -> str:
    """How ``fn`` must be called: ``async``, ``sync``, ``asyncgen`` or ``gen``."""
    target = fn
    if not inspect.isfunction(fn) and not inspect.ismethod(fn) and not isinstance(fn, type):
        target = getattr(fn, "__call__", fn)  # noqa: B004  (a callable instance)
    if inspect.isasyncgenfunction(target):
        return "asyncgen"
    if inspect.isgeneratorfunction(target):
        return "gen"
    if inspect.iscoroutinefunction(target):
        return "async"
    return "sync"


def _signature(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    try:
        signature = inspect.signature(fn)
        target = fn.__init__ if isinstance(fn, type) else fn  # type: ignore[misc]
        if not inspect.isfunction(target) and not inspect.ismethod(target):
            target = getattr(target, "__call__", target)  # noqa: B004
        hints = typing.get_type_hints(target, include_extras=True)
    except (NameError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"Cannot read the signature of {_name(fn)}: {exc}") from exc
    return signature, hints


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


def _split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    if get_origin(annotation) is typing.Annotated:
        base, *extras = get_args(annotation)
        return base, tuple(extras)
    return annotation, ()


_VALIDATION_LIBRARIES = ("pydantic", "pydantic_core", "annotated_types")


def _with_validation_metadata(tp: Any, extras: tuple[Any, ...]) -> Any:
    """Keep pydantic's ``Annotated`` metadata (``Field(gt=0)``, ``AfterValidator``,
    ``conint``'s bounds): the type is then validated by pydantic, which reads it."""
    kept = tuple(e for e in extras if type(e).__module__.split(".")[0] in _VALIDATION_LIBRARIES)
    return typing.Annotated[(tp, *kept)] if kept else tp


def _with_constraints(tp: Any, marker: Param | None) -> Any:
    if marker is None or not marker.constraints:
        return tp
    meta = msgspec.Meta(**typing.cast(dict[str, Any], marker.constraints))
    inner, optional = codecs.unwrap_optional(tp)  # the checks apply to the value, not None
    constrained: Any = typing.Annotated[inner, meta]
    return constrained | None if optional else constrained


class _Builder:
    """Walks a handler's dependency graph once, depth first, into an ordered call list."""

    def __init__(
        self,
        path_params: tuple[str, ...],
        overrides: Mapping[Any, Any],
        app_scope: AppScope | None = None,
    ) -> None:
        self.path_params = path_params
        self.overrides = overrides
        self.app_scope = app_scope
        self.calls: list[Call] = []
        self.index: dict[Any, int] = {}
        self.visiting: list[Any] = []
        self.used_path: set[str] = set()

    def add(self, fn: Callable[..., Any], *, cache_key: Any, handler: bool = False) -> int:
        fn = self.overrides.get(fn, fn)
        # A wrapper standing for another callable (carafe.security's Security) follows an
        # override of the callable it wraps.
        rebind = getattr(fn, "__carafe_rebind__", None)
        if rebind is not None:
            fn = rebind(self.overrides)
        if cache_key is not None and cache_key in self.index:
            return self.index[cache_key]
        if fn in self.visiting:
            cycle = " -> ".join(_name(f) for f in [*self.visiting, fn])
            raise ConfigurationError(f"Dependency cycle: {cycle}")
        self.visiting.append(fn)
        kind = call_kind(fn)
        if handler and kind in ("asyncgen", "gen"):
            raise ConfigurationError(
                f"Handler {_name(fn)} is a generator; return a StreamingResponse instead"
            )
        call = self._analyse(fn, kind)
        self.visiting.pop()
        self.calls.append(call)
        position = len(self.calls) - 1
        if cache_key is not None:
            self.index[cache_key] = position
        return position

    def add_app(self, fn: Callable[..., Any]) -> Extractor:
        """Register an app-scoped dependency (and its own); the extractor reads its value."""
        original, fn = fn, self.overrides.get(fn, fn)
        if self.app_scope is None:
            raise ConfigurationError(
                f"Depends({_name(original)}, scope='app') is used outside an app"
            )
        if fn in self.visiting:
            cycle = " -> ".join(_name(f) for f in [*self.visiting, fn])
            raise ConfigurationError(f"Dependency cycle: {cycle}")
        self.visiting.append(fn)
        signature, hints = _signature(fn)
        args: list[tuple[str, Any]] = []
        for name, parameter in signature.parameters.items():
            base, extras = _split_annotated(hints.get(name, Any))
            dependency = next((e for e in extras if isinstance(e, Dependency)), None)
            if isinstance(parameter.default, Dependency):
                dependency = parameter.default
            if dependency is not None and dependency.scope == "app":
                target = dependency.dependency or base
                self.add_app(target)
                args.append((name, self.overrides.get(target, target)))
            elif dependency is not None or parameter.default is inspect.Parameter.empty:
                raise ConfigurationError(
                    f"App-scoped dependency {_name(fn)} cannot take {name!r}: it is created "
                    "once for the app, so it may depend only on other scope='app' dependencies"
                )
        self.visiting.pop()
        self.app_scope.register(fn, fn, call_kind(fn), tuple(args))
        return self.app_scope.getter(fn)

    def _analyse(self, fn: Callable[..., Any], kind: str) -> Call:
        signature, hints = _signature(fn)
        sync_params: list[tuple[str, Extractor]] = []
        deps: list[tuple[str, int]] = []
        infos: list[ParamInfo] = []
        body_infos: dict[str, list[ParamInfo]] = {}
        async_injected: list[tuple[str, AsyncExtractor]] = []
        for name, parameter in signature.parameters.items():
            if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                continue
            base, extras = _split_annotated(hints.get(name, Any))
            dependency = next((e for e in extras if isinstance(e, Dependency)), None)
            if isinstance(parameter.default, Dependency):
                dependency = parameter.default
            if dependency is not None:
                target = dependency.dependency or base
                if dependency.scope == "app":
                    sync_params.append((name, self.add_app(target)))
                    continue
                key = target if dependency.use_cache else object()
                deps.append((name, self.add(target, cache_key=key)))
                continue
            injector = _injector_for(base)
            if injector is not None:
                if inspect.iscoroutinefunction(injector):
                    async_injected.append((name, injector))
                else:
                    sync_params.append((name, injector))
                continue
            info = self._param_info(fn, name, parameter, base, extras)
            if info.source in ("path", "query", "header", "cookie"):
                extractor, found = _param_extractor(info, base)
                infos.extend(found)
                sync_params.append((name, extractor))
            else:
                body_infos.setdefault(info.source, []).append(info)
        if "body" in body_infos and len(body_infos) > 1:
            raise ConfigurationError(
                f"{_name(fn)} reads a JSON body ({body_infos['body'][0].name!r}) and form "
                "fields; a request has one body: use a form model or only JSON"
            )
        async_params = async_injected + [
            self._body_extractor(source, group) for source, group in body_infos.items()
        ]
        for group in body_infos.values():
            infos.extend(group)
        return Call(fn, kind, tuple(sync_params), tuple(async_params), tuple(deps), tuple(infos))

    def _param_info(
        self,
        fn: Callable[..., Any],
        name: str,
        parameter: inspect.Parameter,
        base: Any,
        extras: tuple[Any, ...],
    ) -> ParamInfo:
        marker = next((e for e in extras if isinstance(e, Param)), None)
        default = parameter.default
        if isinstance(default, Param):
            marker, default = default, default.default
        elif marker is not None and marker.default is not REQUIRED:
            default = marker.default
        if default is inspect.Parameter.empty:
            default = REQUIRED
        if marker is not None:
            source = marker.source
        elif name in self.path_params:
            source = "path"
        elif _typed_sources and (typed := _typed_source(base)) is not None:
            source = typed
        elif codecs.is_model(base) and not _is_plugin_scalar(base):
            source = "body"
        else:
            source = "query"
        key = marker.alias if marker is not None and marker.alias else name
        if isinstance(marker, Header):
            if marker.convert_underscores and not marker.alias:
                key = key.replace("_", "-")
            key = key.lower()
        if source == "path":
            if key not in self.path_params:
                raise ConfigurationError(
                    f"{_name(fn)}: parameter {name!r} is marked Path() but the route path "
                    f"has no {{{key}}}"
                )
            self.used_path.add(key)
        annotation = _with_constraints(_with_validation_metadata(base, extras), marker)
        return ParamInfo(name, key, source, annotation, default, marker)

    def _body_extractor(self, source: str, group: list[ParamInfo]) -> tuple[str, AsyncExtractor]:
        if source == "body":
            return _json_body_extractor(group)
        builder = _body_builders.get(source)
        if builder is None:
            raise ConfigurationError(
                f"Parameters from {source!r} need an optional part of Carafe that is not "
                f"installed; try: pip install 'carafe[forms]'"
            )
        return "", builder(group)


def _injector_for(tp: Any) -> Extractor | None:
    if not isinstance(tp, type):
        return None
    for registered, factory in _injectables.items():
        if issubclass(tp, registered):
            return factory
    return None


def _identity(value: Any) -> Any:
    return value


def _simple_extractor(info: ParamInfo) -> Extractor:
    """An extractor for a path, query, header or cookie parameter."""
    inner, _ = codecs.unwrap_optional(info.annotation)
    many = codecs.is_sequence(inner)
    convert = codecs.param_converter(inner, info.loc)
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


def _param_extractor(info: ParamInfo, base: Any) -> tuple[Extractor, list[ParamInfo]]:
    """The extractor for a path/query/header/cookie parameter, and what it reads.

    A model (Struct, dataclass, pydantic model) marked ``Query()``, ``Header()`` or
    ``Cookie()`` is a parameter group: each of its fields is one parameter.
    """
    inner, optional = codecs.unwrap_optional(base)
    fields = None if info.source == "path" else _group_fields(inner)
    if fields is None:
        return _simple_extractor(info), [info]
    wire = [(_wire_key(key, info.marker), key, codecs.is_sequence(tp)) for key, tp, _, _ in fields]
    infos = [
        ParamInfo(key, wire_key, info.source, tp, default if not required else REQUIRED, None)
        for (wire_key, _, _), (key, tp, required, default) in zip(wire, fields, strict=True)
    ]
    convert = codecs.param_converter(inner, (info.source,))
    source, default = info.source, info.default

    def from_group(request: Request) -> Any:
        values: dict[str, Any] = {}
        for wire_key, key, many in wire:
            found = _lookup(request, source, wire_key)
            if found:
                values[key] = found if many else found[0]
        if not values and optional:
            return None if default is REQUIRED else default
        return convert(values)

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


def _group_fields(tp: Any) -> list[tuple[str, Any, bool, Any]] | None:
    """``(key, type, required, default)`` per field of a model type, else None."""
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return [(f.encode_name, f.type, f.required, f.default) for f in msgspec.structs.fields(tp)]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return [(f.name, hints[f.name], _dc_required(f), f.default) for f in dataclasses.fields(tp)]
    if "pydantic" in sys.modules and codecs.is_model(tp):
        from carafe._pydantic import group_fields

        found = group_fields(tp)
        return None if found is None else [tuple(f) for f in found]
    return None


def _is_plugin_scalar(tp: Any) -> bool:
    """A model library's single-value type (pydantic's ``HttpUrl``): a query parameter."""
    if "carafe._pydantic" not in sys.modules:
        return False
    from carafe._pydantic import is_scalar_type

    return is_scalar_type(tp)


def _dc_required(field: dataclasses.Field[Any]) -> bool:
    return field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING


def is_json_media_type(content_type: str) -> bool:
    """``application/json`` or any ``application/*+json``, parameters ignored."""
    if content_type == "application/json":
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def _json_body_extractor(group: list[ParamInfo]) -> tuple[str, AsyncExtractor]:
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
    decode = codecs.body_decoder(tp, ("body",))

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
        body = await read_body(request.scope, request.receive, request.limits.max_body_size or 0)
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


def build_plan(
    handler: Callable[..., Any],
    path_params: tuple[str, ...],
    dependencies: tuple[Dependency, ...] = (),
    overrides: Mapping[Any, Any] | None = None,
    app_scope: AppScope | None = None,
) -> Plan:
    """Analyse ``handler`` and the dependencies it reaches into a ``Plan``.

    ``dependencies`` (from the app, routers and route) run before the handler; their
    values are not passed to it. ``app_scope`` collects the ``scope="app"``
    dependencies met on the way (the app creates them at startup). Raises
    ``ConfigurationError`` for a path parameter the handler does not take, a dependency
    cycle, an app-scoped dependency taking request values or an unreadable signature.
    """
    builder = _Builder(path_params, overrides or {}, app_scope)
    for dependency in dependencies:
        target = dependency.dependency
        if target is None:
            raise ConfigurationError("Route-level Depends() needs a callable")
        if dependency.scope == "app":
            builder.add_app(target)
            continue
        builder.add(target, cache_key=target if dependency.use_cache else object())
    builder.add(handler, cache_key=None, handler=True)
    unused = [name for name in path_params if name not in builder.used_path]
    if unused:
        raise ConfigurationError(
            f"{_name(handler)}: the route path has {{{unused[0]}}} but no parameter "
            f"(of the handler or its dependencies) is named {unused[0]!r}"
        )
    return Plan(tuple(builder.calls))
