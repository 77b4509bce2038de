"""Signature -> endpoint plan, once at startup. Sans I/O: nothing here sends or receives.

``build_plan`` walks a handler's dependency graph depth first into the ordered call list
of a ``Plan``, choosing for each parameter where its value comes from:

    Depends(fn)                 another call of the plan (shared within the request)
    Depends(fn, scope="app")    a value the app created at startup
    a type a provider fills     the registry's provider (Request, Session, ...)
    a marker or a known type    path, query, header, cookie, JSON body, or a body
                                reader an extension registered (form, file)

``Security(fn, scopes=[...])`` is a ``Depends`` whose scopes are carried down the walk,
so a ``SecurityScopes`` parameter anywhere below receives them; the same dependency
under other scopes is another call.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, get_args, get_origin

import msgspec

from carafe._concurrency import IO_POOL, ThreadPool, call_kind
from carafe._core import codecs
from carafe._core.extractors import json_body_extractor, param_extractor
from carafe._core.plan import AsyncExtractor, Call, Extractor, ParamInfo, Plan
from carafe.di import AppScope, Dependency
from carafe.exceptions import ConfigurationError
from carafe.extensions import ParameterSite, Provider, Registry, default_registry
from carafe.params import REQUIRED, Header, Param
from carafe.requests import HTTPConnection

if TYPE_CHECKING:
    from carafe._core.codecs import CodecPlugin

__all__ = ["build_plan", "read_signature", "split_annotated"]


def read_signature(fn: Callable[..., Any]) -> tuple[inspect.Signature, dict[str, Any]]:
    """``fn``'s signature and resolved type hints; a ``ConfigurationError`` if unreadable."""
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


def split_annotated(annotation: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, a, b]`` -> ``(T, (a, b))``; anything else -> ``(it, ())``."""
    if get_origin(annotation) is typing.Annotated:
        base, *extras = get_args(annotation)
        return base, tuple(extras)
    return annotation, ()


def _dependency_of(parameter: inspect.Parameter, extras: tuple[Any, ...]) -> Dependency | None:
    if isinstance(parameter.default, Dependency):
        return parameter.default
    return next((e for e in extras if isinstance(e, Dependency)), None)


_VALIDATION_LIBRARIES = ("pydantic", "pydantic_core", "annotated_types")


def _with_validation_metadata(tp: Any, extras: tuple[Any, ...]) -> Any:
    """Keep the ``Annotated`` metadata that validates: ``msgspec.Meta`` (checked by
    msgspec, shown in the schema) and pydantic's (``Field(gt=0)``, ``AfterValidator``,
    ``conint``'s bounds: the type is then validated by pydantic, which reads it)."""
    kept = tuple(
        e
        for e in extras
        if isinstance(e, msgspec.Meta) or type(e).__module__.split(".")[0] in _VALIDATION_LIBRARIES
    )
    return typing.Annotated[(tp, *kept)] if kept else tp


def _with_constraints(tp: Any, marker: Param | None) -> Any:
    if marker is None or not marker.constraints:
        return tp
    meta = msgspec.Meta(**typing.cast(dict[str, Any], marker.constraints))
    inner, optional = codecs.unwrap_optional(tp)  # the checks apply to the value, not None
    constrained: Any = typing.Annotated[inner, meta]
    return constrained | None if optional else constrained


def _connection(request: Any) -> Any:
    return request


_CONNECTION = Provider(HTTPConnection, _connection, cleans_up=True)


@dataclasses.dataclass
class _Found:
    """What the parameters of one function turned out to need, as the builder goes."""

    sync_params: list[tuple[str, Extractor]] = dataclasses.field(default_factory=list)
    async_params: list[tuple[str, AsyncExtractor]] = dataclasses.field(default_factory=list)
    deps: list[tuple[str, int]] = dataclasses.field(default_factory=list)
    infos: list[ParamInfo] = dataclasses.field(default_factory=list)
    bodies: dict[str, list[ParamInfo]] = dataclasses.field(default_factory=dict)
    providers: list[Provider] = dataclasses.field(default_factory=list)


class _Builder:
    """Walks a handler's dependency graph once, depth first, into an ordered call list."""

    def __init__(
        self,
        path_params: tuple[str, ...],
        overrides: Mapping[Any, Any],
        app_scope: AppScope | None,
        registry: Registry,
    ) -> None:
        self.path_params = path_params
        self.overrides = overrides
        self.app_scope = app_scope
        self.registry = registry
        self.plugins: list[CodecPlugin] = registry.codecs
        self.calls: list[Call] = []
        self.index: dict[Any, int] = {}
        self.shared: dict[Any, list[int]] = {}  # fn -> positions of its shared calls
        self.reads_scopes: dict[int, bool] = {}  # position -> it or a call below reads them
        self.visiting: list[Any] = []
        self.used_path: set[str] = set()

    def add_dependency(self, dependency: Dependency, base: Any, scopes: tuple[str, ...]) -> int:
        target = dependency.dependency or base
        scopes = scopes + tuple(s for s in dependency.scopes if s not in scopes)
        if not dependency.use_cache:
            return self.add(target, cache_key=object(), scope=dependency.scope, scopes=scopes)
        fn = self.overrides.get(target, target)
        for position in self.shared.get(fn, ()):
            call = self.calls[position]
            # One call serves every path to it unless something below reads the scopes.
            if call.scopes == scopes or not self.reads_scopes[position]:
                call.scopes += tuple(s for s in scopes if s not in call.scopes)
                return position
        position = self.add(target, cache_key=None, scope=dependency.scope, scopes=scopes)
        self.shared.setdefault(fn, []).append(position)
        return position

    def add(
        self,
        fn: Callable[..., Any],
        *,
        cache_key: Any,
        handler: bool = False,
        scope: str = "request",
        scopes: tuple[str, ...] = (),
        signature: inspect.Signature | None = None,
    ) -> int:
        fn = self.overrides.get(fn, fn)
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
        call = self._analyse(fn, kind, scopes, signature)
        call.scope = scope
        self.visiting.pop()
        self.calls.append(call)
        position = len(self.calls) - 1
        self.reads_scopes[position] = any(p.per_parameter for p in call.providers) or any(
            self.reads_scopes[source] for _, source in call.dep_params
        )
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
        signature, hints = read_signature(fn)
        args: list[tuple[str, Any]] = []
        for name, parameter in signature.parameters.items():
            base, extras = split_annotated(hints.get(name, Any))
            dependency = _dependency_of(parameter, extras)
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

    def _analyse(
        self,
        fn: Callable[..., Any],
        kind: str,
        scopes: tuple[str, ...],
        declared: inspect.Signature | None = None,
    ) -> Call:
        if declared is None:
            signature, hints = read_signature(fn)
        else:  # the route says what to fill (a view's method), annotations resolved
            signature = declared
            hints = {name: p.annotation for name, p in declared.parameters.items()}
        found = _Found()
        for name, parameter in signature.parameters.items():
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
                self._parameter(fn, name, parameter, hints.get(name, Any), scopes, found)
        bodies = found.bodies
        if "body" in bodies and len(bodies) > 1:
            raise ConfigurationError(
                f"{_name(fn)} reads a JSON body ({bodies['body'][0].name!r}) and form "
                "fields; a request has one body: use a form model or only JSON"
            )
        cleans_up = any(p.cleans_up for p in found.providers)
        for source, group in bodies.items():
            extract_body, reader_cleans_up = self._body_extractor(source, group)
            found.async_params.append(extract_body)
            cleans_up = cleans_up or reader_cleans_up
            found.infos.extend(group)
        return Call(
            fn,
            kind,
            tuple(found.sync_params),
            tuple(found.async_params),
            tuple(found.deps),
            tuple(found.infos),
            scopes=scopes,
            providers=tuple(found.providers),
            cleans_up=cleans_up,
        )

    def _parameter(
        self,
        fn: Callable[..., Any],
        name: str,
        parameter: inspect.Parameter,
        annotation: Any,
        scopes: tuple[str, ...],
        found: _Found,
    ) -> None:
        """Decide where one parameter's value comes from, and note it in ``found``."""
        base, extras = split_annotated(annotation)
        dependency = _dependency_of(parameter, extras)
        if dependency is not None:
            if dependency.scope == "app":
                found.sync_params.append((name, self.add_app(dependency.dependency or base)))
            else:
                found.deps.append((name, self.add_dependency(dependency, base, scopes)))
            return
        provider = self._provider_for(base)
        if provider is not None and provider.dependency is not None:
            found.providers.append(provider)
            found.deps.append((name, self.add_dependency(provider.dependency, base, scopes)))
            return
        if provider is not None:
            found.providers.append(provider)
            extract = provider.extractor(ParameterSite(name, base, fn, scopes))
            if inspect.iscoroutinefunction(extract):
                found.async_params.append((name, extract))
            else:
                found.sync_params.append((name, extract))
            return
        info = self._param_info(fn, name, parameter, base, extras)
        if info.source in ("path", "query", "header", "cookie"):
            extractor, infos = param_extractor(info, base, self.plugins)
            found.infos.extend(infos)
            found.sync_params.append((name, extractor))
        else:
            found.bodies.setdefault(info.source, []).append(info)

    def _provider_for(self, tp: Any) -> Provider | None:
        provider = self.registry.provider_for(tp)
        if provider is None and isinstance(tp, type) and issubclass(tp, HTTPConnection):
            return _CONNECTION  # the Request (or WebSocket) itself
        return provider

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
        elif (typed := self._typed_source(base)) is not None:
            source = typed
        elif codecs.is_model(base, self.plugins) and not self._is_plugin_scalar(base):
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

    def _typed_source(self, tp: Any) -> str | None:
        typed = self.registry.typed_sources
        if not typed:
            return None
        inner, _ = codecs.unwrap_optional(tp)
        if get_origin(inner) in (list, tuple, set, frozenset) and get_args(inner):
            inner = get_args(inner)[0]
        return typed.get(inner) if isinstance(inner, type) else None

    def _is_plugin_scalar(self, tp: Any) -> bool:
        """A model library's single-value type (pydantic's ``HttpUrl``): a query parameter."""
        is_scalar = [getattr(p, "is_scalar_type", None) for p in self.plugins]
        return any(check is not None and check(tp) for check in is_scalar)

    def _body_extractor(
        self, source: str, group: list[ParamInfo]
    ) -> tuple[tuple[str, AsyncExtractor], bool]:
        if source == "body":
            return json_body_extractor(group, self.plugins), False
        reader = self.registry.body_readers.get(source)
        if reader is None:
            raise ConfigurationError(
                f"Parameters from {source!r} need a reader no installed extension provides"
            )
        return ("", reader.build(group)), reader.cleans_up


def build_plan(
    handler: Callable[..., Any],
    path_params: tuple[str, ...],
    dependencies: tuple[Dependency, ...] = (),
    overrides: Mapping[Any, Any] | None = None,
    app_scope: AppScope | None = None,
    registry: Registry | None = None,
    pool: ThreadPool | None = None,
    signature: inspect.Signature | None = None,
) -> Plan:
    """Analyse ``handler`` and the dependencies it reaches into a ``Plan``.

    ``dependencies`` (from the app, routers and route) run before the handler; their
    values are not passed to it. ``app_scope`` collects the ``scope="app"``
    dependencies met on the way (the app creates them at startup); ``registry`` is the
    app's (what its extensions provide); ``pool`` runs the sync calls; ``signature``
    stands for the handler's own when the route declares one. Raises
    ``ConfigurationError`` for a path parameter the handler does not take, a dependency
    cycle, an app-scoped dependency taking request values or an unreadable signature.
    """
    if registry is None:
        registry = default_registry()
    builder = _Builder(path_params, overrides or {}, app_scope, registry)
    for dependency in dependencies:
        target = dependency.dependency
        if target is None:
            raise ConfigurationError("Route-level Depends() needs a callable")
        if dependency.scope == "app":
            builder.add_app(target)
            continue
        builder.add_dependency(dependency, None, ())
    builder.add(handler, cache_key=None, handler=True, signature=signature)
    unused = [name for name in path_params if name not in builder.used_path]
    if unused:
        raise ConfigurationError(
            f"{_name(handler)}: the route path has {{{unused[0]}}} but no parameter "
            f"(of the handler or its dependencies) is named {unused[0]!r}"
        )
    return Plan(tuple(builder.calls), pool or IO_POOL)
