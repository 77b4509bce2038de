"""``Dispatcher``: a compiled app's route tables and how a request finds its endpoint.

Built once per compile from the app's flattened routes. Per request: the route table
(a dict for static paths, then a segment trie), then the mounted apps (longest prefix
first), else 404; a path that matches with or without a trailing slash is redirected;
a known path with another method is 405 with ``Allow`` (or 204 for ``OPTIONS``).

``match`` tells which route a request will reach without running it: the app calls
it (``prematch``) before its middleware when it has any, and puts the answer in the
request's ``RequestContext.route``, so middleware (CSRF, tracing) knows the route's
template and name before the handler runs; behind the middleware,
``http_after_middleware`` serves the route found then, unless the path was rewritten.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeAlias

from carafe.context import CONTEXT_KEY, RequestContext
from carafe.exceptions import ConfigurationError, HTTPError, URLBuildError, elide
from carafe.requests import Request
from carafe.responses import RedirectResponse, Response
from carafe.routing.paths import PathTemplate
from carafe.routing.router import Mount, Route, WebSocketRoute
from carafe.routing.trie import MethodTable, RouteTable

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from carafe._core.endpoint import Endpoint
    from carafe._core.plan import Plan
    from carafe._errors import ErrorHandlers
    from carafe.types import Receive, Scope, Send

    # What the route table answers for a path: its methods and the path's values, or None.
    Found: TypeAlias = tuple[MethodTable[Endpoint], list[str]] | None

__all__ = ["CompiledRoute", "Dispatcher", "route_path"]


@dataclasses.dataclass(slots=True)
class CompiledRoute:
    """A route as the app serves it: the flattened route, its template and plan."""

    route: Route | WebSocketRoute
    template: PathTemplate
    plan: Plan

    @property
    def path(self) -> str:
        """The route's path template, as declared: ``/items/{item_id}``."""
        return self.template.path

    @property
    def name(self) -> str:
        return self.route.name

    @property
    def handler(self) -> Callable[..., Any]:
        return self.route.handler


def route_path(scope: Scope) -> str:
    """The path the routes are matched against: ``scope["path"]`` without ``root_path``.

    ASGI puts the root path in ``path``, and uvicorn does. A server that leaves it out
    (granian's ``url_path_prefix``) gets it put in here, so that ``request.url``, the
    app and its mounted apps all see one convention.
    """
    path: str = scope["path"]
    root = scope.get("root_path")
    if not root:
        return path
    if path.startswith(root):
        return path[len(root) :] or "/"
    scope["path"] = root + path
    return path


class Dispatcher:
    """The tables one compile produced, and the per-request lookup over them."""

    def __init__(self, errors: ErrorHandlers) -> None:
        self.errors = errors
        self.table: RouteTable[Endpoint] = RouteTable()
        self.ws_table: RouteTable[Endpoint] = RouteTable()
        self.mounts: list[Mount] = []
        self.names: dict[str, PathTemplate] = {}
        self.mount_names: dict[str, str] = {}
        self.mount_states: dict[int, dict[str, Any]] = {}  # id(mounted app) -> its state
        self._routes: dict[int, CompiledRoute] = {}  # id(endpoint) -> its route

    # --- Building (startup) --------------------------------------------------------

    def add(self, compiled: CompiledRoute, method: str, endpoint: Endpoint) -> None:
        table = self.ws_table if method == "WEBSOCKET" else self.table
        table.add(compiled.template, method, endpoint)
        self._routes[id(endpoint)] = compiled

    def name(self, name: str, template: PathTemplate) -> None:
        """Record a route's name for ``url_path_for``; two paths under one name are an error
        (one name for several methods of one path is fine)."""
        known = self.names.get(name)
        if known is not None and known.path != template.path:
            raise ConfigurationError(
                f"Two routes are named {name!r} ({known.path} and {template.path}); "
                "give one a name= or put them in named routers"
            )
        self.names[name] = template

    def add_mounts(self, mounts: list[Mount]) -> None:
        self.mounts = sorted(mounts, key=lambda mount: len(mount.prefix), reverse=True)
        self.mount_names = {m.name: m.prefix for m in self.mounts if m.name}

    # --- Per request ---------------------------------------------------------------

    def match(self, scope: Scope) -> CompiledRoute | None:
        """The route this HTTP or websocket request reaches, or None (404, 405, mount)."""
        table = self.ws_table if scope["type"] == "websocket" else self.table
        found = table.match(route_path(scope))
        if found is None:
            return None
        endpoint = found[0].get("WEBSOCKET" if scope["type"] == "websocket" else scope["method"])
        return None if endpoint is None else self._routes.get(id(endpoint))

    def prematch(self, scope: Scope, context: RequestContext) -> None:
        """``match`` for an app with middleware, before it runs: the route goes into
        ``context.route``, and the table's answer is kept for ``http_after_middleware``."""
        if scope["type"] == "websocket":
            context.route = self.match(scope)
            return
        path = route_path(scope)
        found = self.table.match(path)
        context.matched = (path, found)
        if found is not None:
            endpoint = found[0].get(scope["method"])
            if endpoint is not None:
                context.route = self._routes.get(id(endpoint))

    # PERF: the two entries below are plain functions handing back the coroutine that
    # answers (the endpoint's, most often): no frame of their own between the server
    # and a handler waiting on I/O.

    def http_after_middleware(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        """``http`` behind the app's middleware: the table is walked again only when a
        middleware changed the path (a rewrite) since ``prematch``."""
        context: RequestContext | None = scope.get(CONTEXT_KEY)
        matched = None if context is None else context.matched
        path = route_path(scope)
        if matched is None or matched[0] != path:
            return self.http(scope, receive, send)
        return self._answer(path, matched[1], scope, receive, send)

    def http(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        path: str = scope["path"]
        if scope.get("root_path"):
            path = route_path(scope)
        return self._answer(path, self.table.match(path), scope, receive, send)

    def _answer(
        self, path: str, found: Found, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None]:
        """The route table's answer served: the endpoint, a 405, or what has no route."""
        if found is not None:
            table, values = found
            endpoint = table.get(scope["method"])
            if endpoint is not None:
                return endpoint(scope, receive, send, values)
            return self._no_method(table, scope, receive, send)
        return self._unrouted(path, scope, receive, send)

    async def _unrouted(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        """No route has the path: a mounted app's, else a redirect or a 404."""
        mount = self.mount_for(path, websocket=False)
        if mount is not None:
            await mount.app(self.mount_scope(scope, mount), receive, send)
            return
        await self._not_found(path, scope, receive, send)

    async def websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        from carafe.websockets import deny_websocket

        path = route_path(scope)
        found = self.ws_table.match(path)
        if found is not None:
            table, values = found
            await table["WEBSOCKET"](scope, receive, send, values)
            return
        mount = self.mount_for(path, websocket=True)
        if mount is not None:
            await mount.app(self.mount_scope(scope, mount), receive, send)
            return
        error = HTTPError(404, f"No websocket route is at {elide(path)}.")
        await deny_websocket(scope, send, error)

    def mount_for(self, path: str, *, websocket: bool) -> Mount | None:
        """The mounted app for ``path``, longest prefix first (WSGI apps take no websockets)."""
        for mount in self.mounts:
            if websocket and mount.wsgi:
                continue
            prefix = mount.prefix
            if path == prefix or path.startswith(prefix + "/") or not prefix:
                return mount
        return None

    def mount_scope(self, scope: Scope, mount: Mount) -> Scope:
        """The scope a mounted app sees: the prefix moved into ``root_path``, the state
        its own lifespan set up laid over the app's, and a request context of its own."""
        child = dict(scope)
        child["root_path"] = scope.get("root_path", "") + mount.prefix
        own_state = self.mount_states.get(id(mount.app))
        if own_state is not None:
            child["state"] = {**scope.get("state", {}), **own_state}
        parent: RequestContext | None = child.pop(CONTEXT_KEY, None)
        if parent is not None and parent.body is not None:
            context = child[CONTEXT_KEY] = RequestContext()
            context.body = parent.body  # read by the app's middleware: still readable
        return child

    async def _no_method(
        self, table: MethodTable[Endpoint], scope: Scope, receive: Receive, send: Send
    ) -> None:
        if scope["method"] == "OPTIONS":
            allow = table.allow + ", OPTIONS"
            await Response(b"", 204, {"allow": allow})(scope, receive, send)
            return
        error = HTTPError(
            405,
            f"{elide(scope['method'])} is not allowed here; use {table.allow}.",
            {"allow": table.allow},
        )
        await self.errors.send(error, Request(scope, receive), send)

    async def _not_found(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        # A route that differs only by a trailing slash gets a redirect, as in Flask.
        other = path[:-1] if path.endswith("/") and len(path) > 1 else path + "/"
        if self.table.match(other) is not None:
            target = scope.get("root_path", "") + other
            query = scope.get("query_string", b"")
            if query:
                target += "?" + query.decode("latin-1")
            await RedirectResponse(target, 307)(scope, receive, send)
            return
        error = HTTPError(404, f"Nothing is at {elide(path)}.")
        await self.errors.send(error, Request(scope, receive), send)

    # --- URLs ----------------------------------------------------------------------

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in."""
        template = self.names.get(name)
        if template is not None:
            return template.build(params)
        prefix = self.mount_names.get(name)
        if prefix is not None and set(params) <= {"path"}:
            return PathTemplate(prefix + "/{path:path}").build({"path": params.get("path", "")})
        raise URLBuildError(f"No route is named {name!r}")
