"""``Router``: routes registered by decorator, grouped under a prefix, nested by ``include``.

It is Flask's blueprint and FastAPI's ``APIRouter``. A router only records; the app
flattens every router it includes into one route table at startup, so nesting costs
nothing per request.

    api = Router(prefix="/api", tags=["api"])

    @api.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict: ...

    app.include(api)            # GET /api/items/{item_id}
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict, TypeVar, Unpack

from carafe.di import Dependency
from carafe.exceptions import ConfigurationError
from carafe.limits import Limits
from carafe.routing.paths import join_paths

if TYPE_CHECKING:
    from carafe.responses import Response
    from carafe.types import ASGIApp

__all__ = ["HTTP_METHODS", "Mount", "Route", "RouteOptions", "Router", "WebSocketRoute"]

F = TypeVar("F", bound=Callable[..., Any])
V = TypeVar("V", bound=type)

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


class RouteOptions(TypedDict, total=False):
    """The options every route decorator takes (``get``, ``post``, ``route``...).

    Attributes:
        status_code: The status of a successful response (default 200).
        name: The name for ``url_path_for`` (default: the handler's ``__name__``).
        response_class: The ``Response`` class a non-Response return value is wrapped in,
            e.g. ``HTMLResponse`` to send a returned ``str`` as HTML.
        response_model: The declared response type, when it is not the return annotation.
        dependencies: ``Depends(...)`` run before the handler, their values unused.
        limits: Bounds on this route's request bodies (see ``Limits``).
        tags: OpenAPI tags.
        summary: OpenAPI summary (default: the docstring's first line).
        description: OpenAPI description (default: the rest of the docstring).
        deprecated: Marks the operation deprecated in OpenAPI.
        include_in_schema: False leaves the route out of OpenAPI.
        responses: Extra OpenAPI responses by status: ``{404: {"description": ...}}``.
        operation_id: The OpenAPI operationId (default: the route name).
    """

    status_code: int
    name: str
    response_class: type[Response]
    response_model: Any
    dependencies: Sequence[Dependency]
    limits: Limits
    tags: Sequence[str]
    summary: str
    description: str
    deprecated: bool
    include_in_schema: bool
    responses: dict[int | str, dict[str, Any]]
    operation_id: str


@dataclasses.dataclass(slots=True)
class Route:
    """One handler at one path for some methods, with its options merged in."""

    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    name: str
    status_code: int | None = None
    response_class: type[Response] | None = None
    response_model: Any = None
    dependencies: tuple[Dependency, ...] = ()
    limits: Limits | None = None
    tags: tuple[str, ...] = ()
    summary: str | None = None
    description: str | None = None
    deprecated: bool = False
    include_in_schema: bool = True
    responses: dict[int | str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    operation_id: str | None = None
    # The responses declared by the routers (and the app) above the route, merged by
    # walk(), the nearest router's winning; the route's own ``responses`` win over them.
    shared_responses: dict[int | str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    # The parameters (annotations resolved) the plan reads instead of the handler's own
    # signature: for handlers Carafe builds itself, as class-based views do.
    signature: inspect.Signature | None = None


@dataclasses.dataclass(slots=True)
class WebSocketRoute:
    """One websocket handler at one path (see ``Router.websocket``)."""

    path: str
    handler: Callable[..., Any]
    name: str
    dependencies: tuple[Dependency, ...] = ()
    max_message_size: int | None = None


@dataclasses.dataclass(slots=True)
class Mount:
    """A whole ASGI (or wrapped WSGI) app answering every path under ``prefix``."""

    prefix: str
    app: ASGIApp
    name: str | None = None
    wsgi: bool = False


Interface = Literal["auto", "asgi", "wsgi"]


def is_asgi_app(app: Any) -> bool:
    """An ASGI app is a coroutine function, or has an ``async def __call__``."""
    if inspect.iscoroutinefunction(app):
        return True
    call = getattr(app, "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(call)


class Router:
    """A group of routes sharing a prefix, tags, dependencies and limits.

    Args:
        prefix: Put before every path in the router, e.g. ``"/api"``.
        tags: OpenAPI tags added to every route.
        dependencies: ``Depends(...)`` run before every handler in the router.
        limits: Bounds for every route in the router; a route's own limits win.
        name: Prefixes route names: ``Router(name="admin")`` makes ``admin.index``.
        responses: OpenAPI responses by status for every route in the router, e.g.
            ``{404: {"description": "Not found"}}``, taking the same entries as a route's
            ``responses=``; a route's own entries, then the nearest router's, win. A
            400, 401 or 422 entry describes the error Carafe documents itself (an
            unreadable body, a missing credential, a validation error) and is listed
            only on the routes that can answer it.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        tags: Sequence[str] = (),
        dependencies: Sequence[Dependency] = (),
        limits: Limits | None = None,
        name: str | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
    ) -> None:
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigurationError(f"Prefix {prefix!r} must start with '/' and not end with '/'")
        self.prefix = prefix
        self.tags = tuple(dict.fromkeys(tags))
        self.dependencies = tuple(dependencies)
        self.limits = limits
        self.name = name
        self.responses: dict[int | str, dict[str, Any]] = dict(responses or {})
        self.routes: list[Route] = []
        self.mounts: list[Mount] = []
        self.websocket_routes: list[WebSocketRoute] = []
        self.children: list[tuple[Router, str]] = []
        self._changed()

    def _changed(self) -> None:
        """Called on every registration; the app recompiles its table."""

    # --- Registration --------------------------------------------------------------

    def add_route(
        self,
        path: str,
        handler: Callable[..., Any],
        methods: Sequence[str] = ("GET",),
        *,
        signature: inspect.Signature | None = None,
        **options: Unpack[RouteOptions],
    ) -> Route:
        """Register ``handler`` for ``methods`` at ``path`` (relative to the prefix).

        ``signature`` declares the parameters to fill when they are not ``handler``'s
        own (a wrapper that passes them on), with their annotations resolved.
        """
        upper = tuple(dict.fromkeys(m.upper() for m in methods))
        if not upper:
            raise ConfigurationError(f"Route {path!r} needs at least one method")
        route = Route(
            path=path,
            methods=upper,
            handler=handler,
            name=options.get("name") or str(getattr(handler, "__name__", "route")),
            status_code=options.get("status_code"),
            response_class=options.get("response_class"),
            response_model=options.get("response_model"),
            dependencies=tuple(options.get("dependencies", ())),
            limits=options.get("limits"),
            tags=tuple(dict.fromkeys(options.get("tags", ()))),
            summary=options.get("summary"),
            description=options.get("description"),
            deprecated=options.get("deprecated", False),
            include_in_schema=options.get("include_in_schema", True),
            responses=dict(options.get("responses", {})),
            operation_id=options.get("operation_id"),
            signature=signature,
        )
        self.routes.append(route)
        self._changed()
        return route

    def route(
        self, path: str, methods: Sequence[str] = ("GET",), **options: Unpack[RouteOptions]
    ) -> Callable[[F], F]:
        """Register the decorated handler for ``methods`` (Flask's spelling)."""

        def decorate(handler: F) -> F:
            self.add_route(path, handler, methods, **options)
            return handler

        return decorate

    def get(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a GET handler; HEAD is answered by it too."""
        return self.route(path, ("GET",), **options)

    def post(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a POST handler."""
        return self.route(path, ("POST",), **options)

    def put(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a PUT handler."""
        return self.route(path, ("PUT",), **options)

    def patch(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a PATCH handler."""
        return self.route(path, ("PATCH",), **options)

    def delete(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a DELETE handler."""
        return self.route(path, ("DELETE",), **options)

    def head(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register a HEAD handler (a GET handler answers HEAD already)."""
        return self.route(path, ("HEAD",), **options)

    def options(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[F], F]:
        """Register an OPTIONS handler, in place of the automatic 204 with ``Allow``."""
        return self.route(path, ("OPTIONS",), **options)

    def view(self, path: str, **options: Unpack[RouteOptions]) -> Callable[[V], V]:
        """Register the decorated class's ``get``/``post``/... methods; see ``carafe.views``."""

        def decorate(view: V) -> V:
            self.add_view(path, view, **options)
            return view

        return decorate

    def add_view(self, path: str, view: type, **options: Unpack[RouteOptions]) -> list[Route]:
        """Register ``view``'s HTTP methods at ``path``, one route each; see ``carafe.views``."""
        from carafe.views import add_view

        return add_view(self, path, view, **options)

    def include(self, router: Router, *, prefix: str = "") -> None:
        """Add every route of ``router`` (and of the routers it includes) under ``prefix``."""
        if router is self:
            raise ConfigurationError("A router cannot include itself")
        if prefix and (not prefix.startswith("/") or prefix.endswith("/")):
            raise ConfigurationError(f"Prefix {prefix!r} must start with '/' and not end with '/'")
        self.children.append((router, prefix))
        self._changed()

    def mount(
        self, prefix: str, app: Any, *, name: str | None = None, interface: Interface = "auto"
    ) -> None:
        """Serve every path under ``prefix`` with another ASGI or WSGI app (a Flask app works).

        The interface is detected (an ``async`` callable is ASGI); say ``interface="wsgi"``
        if detection guesses wrong. WSGI apps run in a thread pool through a2wsgi.
        """
        if not prefix.startswith("/") or (prefix != "/" and prefix.endswith("/")):
            raise ConfigurationError(
                f"Mount prefix {prefix!r} must start with '/' and not end with '/'"
            )
        wsgi = interface == "wsgi" or (interface == "auto" and not is_asgi_app(app))
        if wsgi:
            from a2wsgi import WSGIMiddleware

            app = WSGIMiddleware(app)
        self.mounts.append(Mount(prefix.rstrip("/"), app, name, wsgi))
        self._changed()

    def websocket(
        self,
        path: str,
        *,
        name: str | None = None,
        dependencies: Sequence[Dependency] = (),
        max_message_size: int | None = None,
    ) -> Callable[[F], F]:
        """Register the decorated ``async`` handler for websocket connections to ``path``.

        Path, query, header and cookie parameters and ``Depends`` work as on HTTP
        routes; the ``WebSocket`` is injected by annotation. ``max_message_size``
        bounds one received message (default: ``carafe.websockets.MAX_MESSAGE_SIZE``).
        """

        def decorate(handler: F) -> F:
            route = WebSocketRoute(
                path=path,
                handler=handler,
                name=name or str(getattr(handler, "__name__", "websocket")),
                dependencies=tuple(dependencies),
                max_message_size=max_message_size,
            )
            self.websocket_routes.append(route)
            self._changed()
            return handler

        return decorate

    def static(self, prefix: str, directory: str, *, name: str = "static") -> None:
        """Serve the files under ``directory`` at ``prefix``; see ``carafe.staticfiles``."""
        from carafe.staticfiles import StaticFiles

        self.mount(prefix, StaticFiles(directory), name=name, interface="asgi")

    # --- Flattening (startup) ------------------------------------------------------

    def walk(
        self,
        prefix: str = "",
        tags: tuple[str, ...] = (),
        dependencies: tuple[Dependency, ...] = (),
        limits: Limits | None = None,
        name_prefix: str = "",
        seen: tuple[Router, ...] = (),
        responses: dict[int | str, dict[str, Any]] | None = None,
    ) -> Iterator[Route | WebSocketRoute | Mount]:
        """Every route and mount below this router, with prefixes and options merged."""
        if self in seen:
            raise ConfigurationError("Routers include each other in a cycle")
        seen = (*seen, self)
        prefix = join_paths(prefix, self.prefix)
        tags = tags + tuple(t for t in self.tags if t not in tags)
        dependencies = dependencies + self.dependencies
        if self.limits is not None:
            limits = self.limits if limits is None else self.limits.over(limits)
        if self.name:
            name_prefix = f"{name_prefix}{self.name}."
        if self.responses:
            responses = {**(responses or {}), **self.responses}
        for route in self.routes:
            merged = dataclasses.replace(
                route,
                path=join_paths(prefix, route.path),
                name=name_prefix + route.name,
                tags=tags + tuple(t for t in route.tags if t not in tags),
                dependencies=dependencies + route.dependencies,
                limits=_merge_limits(route.limits, limits),
                shared_responses=dict(responses or {}),
            )
            yield merged
        for ws_route in self.websocket_routes:
            yield dataclasses.replace(
                ws_route,
                path=join_paths(prefix, ws_route.path),
                name=name_prefix + ws_route.name,
                dependencies=dependencies + ws_route.dependencies,
            )
        for mount in self.mounts:
            yield dataclasses.replace(mount, prefix=join_paths(prefix, mount.prefix))
        for child, child_prefix in self.children:
            yield from child.walk(
                join_paths(prefix, child_prefix),
                tags,
                dependencies,
                limits,
                name_prefix,
                seen,
                responses,
            )


def _merge_limits(own: Limits | None, inherited: Limits | None) -> Limits | None:
    if own is None:
        return inherited
    return own if inherited is None else own.over(inherited)
