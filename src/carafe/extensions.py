"""How a feature joins an app: the ``Extension`` protocol and the app's ``Registry``.

The core (routing, the endpoint plan, requests, responses, codecs) knows no feature by
name. A feature declares what it adds to a request through the registry the app owns,
and the app hands that registry to the plan and endpoint builders at startup::

    class Throttle:                                     # an Extension
        def install(self, registry: Registry) -> None:
            registry.provide(Quota, load_quota, after_response=charge_quota)

    app = Carafe(extensions=[Throttle()])               # or app.extend(Throttle())

What a feature may add, each a method of ``Registry``:

    provide(tp, factory)        fill parameters annotated ``tp`` (or a subclass) with
                                ``factory(request)``, sync or async; or, with
                                ``per_parameter=``, an extractor built for each parameter
                                at startup (``SecurityScopes`` knows its scopes then)
      after_response=           run ``fn(app, context)`` once a response below 400 has
                                been sent, only on routes that use the type
      cleans_up=True            the value may register ``context.on_cleanup``: the
                                endpoint then runs the cleanups when the request ends
    provide(tp, dependency=fn)  fill them as ``Depends(fn)`` would: ``fn``'s own
                                parameters are resolved, and a ``yield`` in it wraps
                                the handler (``scope="function"``: finished before the
                                response is sent, so a database commit that fails can
                                still become the response)
    body_reader(source, build)  read parameters whose marker's source is ``source``
                                (``Form()`` -> "form") with ``build(params)``
    typed_source(tp, source)    unmarked parameters annotated ``tp`` come from ``source``
                                (``UploadFile`` -> "file")
    codec(plugin)               a model library: claims types, decodes, encodes, converts
    openapi(contributor)        ``contributor(operation, route, document)`` edits each
                                operation of the OpenAPI document as it is built
    on_shutdown(finish)         ``await finish(app)`` when the app begins to shut down,
                                before its own shutdown hooks (background tasks finish)
    lifespan(factory)           enter ``factory(app)``, an async context manager, when
                                the app starts (before its startup hooks) and leave it
                                when it stops (after its shutdown hooks): an engine or
                                a connection pool opened and closed with the app
    command(cmd)                a click command the ``carafe`` CLI offers for the app
                                (``carafe --app shop:app db upgrade``), beside ``app.cli``

Per request, features keep their values in the typed ``carafe.context.RequestContext``.
Nothing is registered by importing a module: the features Carafe ships are listed
in ``builtin_extensions`` and installed into each app's own registry when it is created,
so two apps in one process never share a setting.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    import click

    from carafe._core.codecs import CodecPlugin
    from carafe._core.plan import ParamInfo
    from carafe.app import Carafe
    from carafe.context import RequestContext
    from carafe.di import Dependency
    from carafe.requests import Request
    from carafe.routing.dispatch import CompiledRoute

__all__ = [
    "Extension",
    "OpenAPIContributor",
    "ParameterSite",
    "Provider",
    "Registry",
    "builtin_extensions",
    "default_registry",
]

Extractor = Callable[["Request"], Any]
BodyBuilder = Callable[[list["ParamInfo"]], Callable[["Request"], Awaitable[Any]]]
AfterResponse = Callable[["Carafe", "RequestContext"], None]
OpenAPIContributor = Callable[[dict[str, Any], "CompiledRoute", dict[str, Any]], None]
"""``contributor(operation, route, document)``: edits an operation as it is built."""


class Extension(Protocol):
    """A feature that plugs into an app: it installs what it provides into the registry."""

    def install(self, registry: Registry) -> None: ...


@dataclasses.dataclass(frozen=True, slots=True)
class ParameterSite:
    """One parameter a provider fills, as the plan builder sees it at startup.

    Attributes:
        name: The parameter's name.
        annotation: Its annotation (the provided type or a subclass).
        owner: The handler or dependency the parameter belongs to.
        scopes: The OAuth2 scopes required by the ``Security(...)`` dependencies on the
            way from the handler to ``owner``.
    """

    name: str
    annotation: Any
    owner: Callable[..., Any]
    scopes: tuple[str, ...]


@dataclasses.dataclass(frozen=True, slots=True)
class Provider:
    """How parameters annotated with ``type`` are filled; see ``Registry.provide``."""

    type: type
    factory: Extractor | None = None
    per_parameter: Callable[[ParameterSite], Extractor] | None = None
    after_response: AfterResponse | None = None
    cleans_up: bool = False
    dependency: Dependency | None = None

    def extractor(self, site: ParameterSite) -> Extractor:
        if self.per_parameter is not None:
            return self.per_parameter(site)
        assert self.factory is not None
        return self.factory


@dataclasses.dataclass(frozen=True, slots=True)
class BodyReader:
    build: BodyBuilder
    cleans_up: bool


class Registry:
    """What the features installed in one app add to its requests."""

    def __init__(self) -> None:
        self.providers: list[Provider] = []
        self.body_readers: dict[str, BodyReader] = {}
        self.typed_sources: dict[type, str] = {}
        self.codecs: list[CodecPlugin] = []
        self.openapi_contributors: list[OpenAPIContributor] = []
        self.shutdown_callbacks: list[Callable[[Carafe], Awaitable[None]]] = []
        self.lifespans: list[Callable[[Carafe], AbstractAsyncContextManager[Any]]] = []
        self.commands: dict[str, click.Command] = {}
        self._installed: list[Extension] = []
        self.version = 0  # bumped on every change: the app recompiles its plans

    def install(self, extension: Extension) -> None:
        """Let ``extension`` register what it provides (once per extension object)."""
        if any(known is extension for known in self._installed):
            return
        self._installed.append(extension)
        extension.install(self)
        self.version += 1

    @property
    def extensions(self) -> Sequence[Extension]:
        """The installed extensions, in installation order."""
        return tuple(self._installed)

    def provide(
        self,
        tp: type,
        factory: Extractor | None = None,
        *,
        per_parameter: Callable[[ParameterSite], Extractor] | None = None,
        after_response: AfterResponse | None = None,
        cleans_up: bool = False,
        dependency: Callable[..., Any] | None = None,
        scope: Literal["request", "function"] = "request",
    ) -> None:
        """Fill parameters annotated ``tp`` (or a subclass of it).

        Args:
            tp: The annotation that asks for the value.
            factory: ``factory(request)`` (sync, or async and awaited) gives the value.
            per_parameter: Instead of ``factory``: ``per_parameter(site)`` builds the
                extractor for one parameter at startup.
            after_response: ``fn(app, context)`` run once a response below 400 has been
                sent, on routes that take ``tp`` (``BackgroundTasks`` starts its tasks).
            cleans_up: The value may register ``context.on_cleanup`` callbacks.
            dependency: Instead of ``factory``: the value is ``Depends(dependency,
                scope=scope)``'s, one per request however many parameters ask; a
                generator's code after ``yield`` sees the handler's error.
            scope: With ``dependency``: ``"function"`` finishes it before the response
                is sent, ``"request"`` after.

        A later registration for the same type wins.
        """
        if sum(x is not None for x in (factory, per_parameter, dependency)) != 1:
            raise TypeError("provide() takes one of a factory, per_parameter= or dependency=")
        marker = None
        if dependency is not None:
            from carafe.di import Dependency

            marker = Dependency(dependency, use_cache=True, scope=scope)
        self.providers = [p for p in self.providers if p.type is not tp]
        self.providers.insert(
            0, Provider(tp, factory, per_parameter, after_response, cleans_up, marker)
        )
        self.version += 1

    def provider_for(self, tp: Any) -> Provider | None:
        """The provider for an annotation, or None (later registrations first)."""
        if not isinstance(tp, type):
            return None
        for provider in self.providers:
            if issubclass(tp, provider.type):
                return provider
        return None

    def body_reader(self, source: str, build: BodyBuilder, *, cleans_up: bool = False) -> None:
        """Read the parameters whose marker's source is ``source`` with ``build(params)``."""
        self.body_readers[source] = BodyReader(build, cleans_up)
        self.version += 1

    def typed_source(self, tp: type, source: str) -> None:
        """Read unmarked parameters annotated ``tp``, ``tp | None`` or ``list[tp]`` from
        ``source``."""
        self.typed_sources[tp] = source
        self.version += 1

    def codec(self, plugin: CodecPlugin) -> None:
        """Add a model library; later plugins are asked first."""
        self.codecs.insert(0, plugin)
        self.version += 1

    def on_shutdown(self, finish: Callable[[Carafe], Awaitable[None]]) -> None:
        """``await finish(app)`` when the app begins to shut down, in installation order."""
        self.shutdown_callbacks.append(finish)

    def lifespan(self, factory: Callable[[Carafe], AbstractAsyncContextManager[Any]]) -> None:
        """Enter ``factory(app)`` when the app starts, before its startup hooks, and
        leave it when the app stops, after its shutdown hooks (in reverse order)."""
        self.lifespans.append(factory)

    def command(self, cmd: click.Command) -> None:
        """Offer ``cmd`` in the ``carafe`` CLI for this app (``carafe --app APP NAME``).

        The command finds the app with ``carafe.cli.commands.current_app()``. An
        ``app.cli`` command of the same name wins.
        """
        if not cmd.name:
            raise TypeError("command() needs a named click command")
        self.commands[cmd.name] = cmd

    def openapi(self, contributor: OpenAPIContributor) -> None:
        """Call ``contributor(operation, route, document)`` for each operation built."""
        self.openapi_contributors.append(contributor)
        self.version += 1


def default_registry() -> Registry:
    """A registry with the built-in extensions installed: what a new app starts with."""
    registry = Registry()
    for extension in builtin_extensions():
        registry.install(extension)
    return registry


def builtin_extensions() -> list[Extension]:
    """The features Carafe ships that every app has: installed when an app is created."""
    from carafe._pydantic_plugin import PydanticExtension
    from carafe.background import BackgroundExtension
    from carafe.envelopes import EnvelopeExtension
    from carafe.forms import FormsExtension
    from carafe.pagination import PaginationExtension
    from carafe.ratelimit import RateLimitsExtension
    from carafe.security import SecurityExtension
    from carafe.web.sessions import SessionsExtension
    from carafe.websockets import WebSocketExtension

    return [
        WebSocketExtension(),
        BackgroundExtension(),
        FormsExtension(),
        SessionsExtension(),
        SecurityExtension(),
        RateLimitsExtension(),
        PaginationExtension(),
        PydanticExtension(),
        EnvelopeExtension(),  # after pydantic's: asked first, pydantic takes Annotated too
    ]
