"""``Carafe``: the application. Configuration, lifespan, the route table and the ASGI entry.

Everything is decided at startup (the first lifespan message, or the first request if
the server runs no lifespan): routers are flattened, each handler becomes a plan and an
endpoint, middleware is chained. Per request, ``__call__`` is a dict probe (or a short
trie walk) and one call.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, TypeVar

from carafe._concurrency import DEFAULT_THREADS, ThreadPool
from carafe._core.build import build_plan
from carafe._core.endpoint import Endpoint, Hooks, build_endpoint, error_sender, head_endpoint
from carafe._core.plan import Plan
from carafe._core.render import Renderer
from carafe._errors import ErrorHandlers, ExceptionHandler, logger
from carafe._origins import TrustedOrigins
from carafe._stopping import Stopping
from carafe.config import Config
from carafe.context import CONTEXT_KEY, RAISE_KEY, RequestContext
from carafe.datastructures import State
from carafe.di import AppScope, Dependency
from carafe.exceptions import ConfigurationError
from carafe.extensions import Extension, Registry, default_registry
from carafe.lifespan import LifespanDriver, serve_lifespan
from carafe.limits import DEFAULT_LIMITS, Limits
from carafe.requests import Request
from carafe.routing.dispatch import CompiledRoute, Dispatcher
from carafe.routing.paths import PathTemplate
from carafe.routing.router import Mount, Route, Router, WebSocketRoute
from carafe.types import ASGIApp, Message, Receive, Scope, Send
from carafe.websockets import build_websocket_endpoint

if TYPE_CHECKING:
    from carafe.cli.commands import AppCommands
    from carafe.openapi import DocsConfig

__all__ = ["Carafe", "CompiledRoute"]

F = TypeVar("F", bound=Callable[..., Any])
Lifespan = Callable[["Carafe"], AbstractAsyncContextManager[Mapping[str, Any] | None]]


class _Overrides(dict[Any, Any]):
    """``app.dependency_overrides``: changing it makes the app rebuild its plans."""

    def __init__(self, app: Carafe) -> None:
        super().__init__()
        self._app = app

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        self._app._changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        self._app._changed()

    def clear(self) -> None:
        super().clear()
        self._app._changed()

    def pop(self, key: Any, *default: Any) -> Any:
        value = super().pop(key, *default)
        self._app._changed()
        return value

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self._app._changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        value = super().setdefault(key, default)
        self._app._changed()
        return value

    def popitem(self) -> tuple[Any, Any]:
        item = super().popitem()
        self._app._changed()
        return item

    def __ior__(self, other: Any) -> _Overrides:  # type: ignore[misc]
        self.update(other)
        return self


class Carafe(Router):
    """The application: a router that is also an ASGI app.

    Args:
        title: The API's name in the OpenAPI document.
        version: The API's version in the OpenAPI document.
        description: The API's description in the OpenAPI document.
        debug: Show tracebacks to clients on loopback; never in production.
        secret_key: Signs session cookies and CSRF tokens; a list rotates keys
            (the first signs, all verify).
        csrf: Check a CSRF token on every POST/PUT/PATCH/DELETE (see ``carafe.web.csrf``).
        websocket_origins: Origins of pages, besides the app's own, whose websocket
            handshakes may carry cookies, e.g. ``["https://admin.example.com"]``
            (``https://*.example.com`` for subdomains, ``"*"`` for any; see
            ``carafe.websockets``).
        lifespan: An async context manager factory ``lifespan(app)`` run around the
            app's life; a mapping it yields becomes ``request.state``.
        limits: Bounds on request bodies for every route (see ``Limits``).
        dependencies: ``Depends(...)`` run before every handler.
        thread_pool_size: Threads for this app's sync handlers, dependencies, hooks and
            background tasks (default 40); each app has its own pool.
        background_timeout: Seconds shutdown waits for running ``BackgroundTasks``
            before cancelling them (default 30).
        docs: Where the OpenAPI document and the docs pages are served (see
            ``carafe.openapi.DocsConfig``); the default serves ``/openapi.json``,
            ``/docs`` and ``/redoc``; ``None`` serves none of them.
        extensions: Features to install besides the built-in ones (see
            ``carafe.extensions``); ``app.extend(extension)`` adds one later.
        responses: OpenAPI responses for every route, as ``Router(responses=...)``.

    ::

        app = Carafe(title="Shop")

        @app.get("/")
        def index() -> dict:
            return {"hello": "world"}
    """

    def __init__(
        self,
        *,
        title: str = "Carafe",
        version: str = "0.1.0",
        description: str | None = None,
        debug: bool = False,
        secret_key: str | Sequence[str] | None = None,
        csrf: bool = False,
        websocket_origins: Sequence[str] = (),
        lifespan: Lifespan | None = None,
        limits: Limits | None = None,
        dependencies: Sequence[Dependency] = (),
        thread_pool_size: int | None = None,
        background_timeout: float = 30.0,
        docs: DocsConfig | bool | None = True,
        extensions: Sequence[Extension] = (),
        responses: dict[int | str, dict[str, Any]] | None = None,
    ) -> None:
        self._compiled: list[CompiledRoute] | None = None
        super().__init__(dependencies=dependencies, responses=responses)
        self.title = title
        self.version = version
        self.description = description
        # Flask's app.config; DEBUG and SECRET_KEY in it drive the app (see the properties).
        self.config = Config(DEBUG=debug, SECRET_KEY=secret_key)
        self._websocket_origins = TrustedOrigins(websocket_origins, "websocket_origins")
        self.limits = DEFAULT_LIMITS if limits is None else limits.over(DEFAULT_LIMITS)
        self.state = State()
        self._overrides = _Overrides(self)
        self.extensions: dict[str, Any] = {}  # each feature's own state, as in Flask
        self.template_globals: dict[str, Any] = {}
        self.template_filters: dict[str, Callable[..., Any]] = {}
        self.docs = docs
        self._docs_router: Router | None = None
        self.threads = ThreadPool(thread_pool_size or DEFAULT_THREADS)
        self.registry: Registry = default_registry()
        for extension in extensions:
            self.registry.install(extension)
        self._registry_version = self.registry.version
        self._app_scope = AppScope(self.threads)  # Depends(..., scope="app") values
        self._errors = ErrorHandlers(debug, self.threads)
        self._lifespan = lifespan
        self._startup: list[Callable[[], Any]] = []
        self._shutdown: list[Callable[[], Any]] = []
        self._before: list[Callable[..., Any]] = []
        self._after: list[Callable[..., Any]] = []
        self._middleware: list[tuple[Callable[..., ASGIApp], dict[str, Any]]] = []
        self._dispatcher = Dispatcher(self._errors)
        self.background_timeout = background_timeout
        self._entry: ASGIApp = self._first_call
        self._stack: ASGIApp = self._dispatch  # the middleware chain, built by compile()
        self._prematch = False  # whether middleware runs before routing (see __call__)
        self._running: contextlib.AsyncExitStack | None = None
        # Set when the app begins to stop; endless streams end on it (carafe._stopping).
        self.stopping = Stopping()
        if csrf:
            from carafe.web.csrf import CSRFProtect

            CSRFProtect(self)

    @functools.cached_property
    def cli(self) -> AppCommands:
        """The app's own ``carafe`` commands, a click group: ``@app.cli.command()``.

        ``carafe --app module:app NAME`` runs one; see ``carafe.cli.commands``.
        """
        from carafe.cli.commands import AppCommands

        return AppCommands(app=self, name=self.title)

    @functools.cached_property
    def logger(self) -> logging.Logger:
        """The app's logger, ``carafe.app.<title>``: a child of ``carafe``."""
        return logging.getLogger(f"carafe.app.{self.title}")

    @property
    def dependency_overrides(self) -> dict[Any, Any]:
        """``{original: replacement}`` for dependencies, for tests; see ``carafe.di``.

        Changing it, or assigning a new mapping (``app.dependency_overrides = {}``),
        makes the app rebuild its plans on the next request.
        """
        return self._overrides

    @dependency_overrides.setter
    def dependency_overrides(self, overrides: Mapping[Any, Any]) -> None:
        self._overrides = _Overrides(self)
        self._overrides.update(overrides)

    # --- Config-backed attributes (Flask's ConfigAttribute) -------------------------

    @property
    def debug(self) -> bool:
        """``config["DEBUG"]``: setting it takes effect at once; a change made in
        ``app.config`` directly takes effect at startup (or when the app recompiles)."""
        return bool(self.config.get("DEBUG"))

    @debug.setter
    def debug(self, value: bool) -> None:
        self.config["DEBUG"] = value
        self._errors.debug = value

    @property
    def secret_key(self) -> str | Sequence[str] | None:
        """``config["SECRET_KEY"]``, read whenever a cookie is signed or checked."""
        key: str | Sequence[str] | None = self.config.get("SECRET_KEY")
        return key

    @secret_key.setter
    def secret_key(self, value: str | Sequence[str] | None) -> None:
        self.config["SECRET_KEY"] = value

    def _changed(self) -> None:
        self._compiled = None
        self._entry = self._first_call

    def extend(self, extension: Extension) -> None:
        """Install a feature (see ``carafe.extensions``): it takes effect at the next compile."""
        self.registry.install(extension)
        self._changed()

    # --- Registration beyond routes ------------------------------------------------

    def on_startup(self, fn: F) -> F:
        """Run ``fn`` (sync or async) when the app starts, in registration order."""
        self._startup.append(fn)
        return fn

    def on_shutdown(self, fn: F) -> F:
        """Run ``fn`` (sync or async) when the app stops, in registration order."""
        self._shutdown.append(fn)
        return fn

    def before_request(self, fn: F) -> F:
        """Run ``fn(request)`` before every handler; a ``Response`` it returns is sent instead."""
        self._before.append(fn)
        self._changed()
        return fn

    def after_request(self, fn: F) -> F:
        """Run ``fn(request, response)`` after every handler; it may return a new response.

        After-hooks run last-registered first, as in Flask, so they nest around the
        before-hooks like middleware.
        """
        self._after.append(fn)
        self._changed()
        return fn

    def template_global(self, name: str | None = None) -> Callable[[F], F]:
        """Make the decorated function callable from every template the app renders
        (``carafe.web.templating.Templates`` takes it at its first render)."""

        def decorate(fn: F) -> F:
            self.template_globals[name or fn.__name__] = fn
            return fn

        return decorate

    def template_filter(self, name: str | None = None) -> Callable[[F], F]:
        """Make the decorated function a filter in every template: ``{{ value | name }}``."""

        def decorate(fn: F) -> F:
            self.template_filters[name or fn.__name__] = fn
            return fn

        return decorate

    def exception_handler(
        self, key: type[BaseException] | int
    ) -> Callable[[ExceptionHandler], ExceptionHandler]:
        """Answer an exception class (or an ``HTTPError`` status) with ``fn(request, exc)``."""

        def decorate(fn: ExceptionHandler) -> ExceptionHandler:
            self._errors.add(key, fn)
            return fn

        return decorate

    async def send_error(self, exc: BaseException, request: Request, send: Send) -> None:
        """Answer ``exc`` as a handler's error would be: by the app's exception handlers,
        else a problem response (a 500 for an unexpected error). For middleware that
        refuses a request before it reaches a route (CSRF), so that an app's own 403
        page applies there too."""
        await self._errors.send(exc, request, send)

    def add_middleware(self, middleware: Callable[..., ASGIApp], **options: Any) -> None:
        """Wrap the app in ``middleware(app, **options)``; the last added runs first."""
        self._middleware.append((middleware, options))
        self._changed()

    # --- Startup: compile ----------------------------------------------------------

    def compile(self) -> list[CompiledRoute]:
        """Build the route table now; raises ``ConfigurationError`` for a broken setup."""
        if self._compiled is not None and self._registry_version == self.registry.version:
            return self._compiled
        self._errors.debug = self.debug  # config["DEBUG"] as it is at startup
        if self.docs and self._docs_router is None:
            self._install_docs()
        self._registry_version = self.registry.version
        compiled: list[CompiledRoute] = []
        dispatcher = Dispatcher(self._errors)
        mounts: list[Mount] = []
        hooks = Hooks(self._before, self._after, self.threads)
        self._app_scope.begin()  # the plans below register the app-scoped dependencies
        send_error = error_sender(self._errors, hooks)
        gets: list[tuple[CompiledRoute, Endpoint]] = []
        for item in self.walk():
            if isinstance(item, Mount):
                mounts.append(item)
                continue
            template = PathTemplate(item.path)
            dispatcher.name(item.name, template)
            plan = self._plan_for(item, template)
            route = CompiledRoute(item, template, plan)
            if isinstance(item, WebSocketRoute):
                endpoint = build_websocket_endpoint(
                    item, plan, template.param_names, self._websocket_origins
                )
                dispatcher.add(route, "WEBSOCKET", endpoint)
                continue
            # walk() merged the route's limits over its routers' and the app's.
            limits = item.limits if item.limits is not None else DEFAULT_LIMITS
            renderer = Renderer(item, self.registry.codecs)
            endpoint = build_endpoint(
                item, plan, template.param_names, limits, hooks, send_error, renderer
            )
            for method in item.methods:
                dispatcher.add(route, method, endpoint)
                if method == "GET":
                    gets.append((route, endpoint))
            compiled.append(route)
        for route, endpoint in gets:
            with contextlib.suppress(ConfigurationError):  # an explicit HEAD route wins
                dispatcher.add(route, "HEAD", head_endpoint(endpoint))
        dispatcher.add_mounts(mounts)
        dispatcher.mount_states = self._dispatcher.mount_states  # started mounts stay started
        self._dispatcher = dispatcher
        self._stack = self._build_stack()  # a middleware's setup mistake raises here too
        self._prematch = bool(self._middleware)
        self._compiled = compiled
        return compiled

    def _plan_for(self, item: Route | WebSocketRoute, template: PathTemplate) -> Plan:
        return build_plan(
            item.handler,
            template.param_names,
            item.dependencies,
            self.dependency_overrides,
            self._app_scope,
            self.registry,
            self.threads,
            getattr(item, "signature", None),
        )

    @property
    def dispatcher(self) -> Dispatcher:
        """The compiled route tables (compiling first if needed)."""
        self.compile()
        return self._dispatcher

    def _install_docs(self) -> None:
        from carafe.openapi import DocsConfig
        from carafe.openapi.docs import install

        config = self.docs if isinstance(self.docs, DocsConfig) else DocsConfig()
        self._docs_router = install(self, config)
        self.include(self._docs_router)

    def _build_stack(self) -> ASGIApp:
        if not self._middleware:
            return self._dispatch
        app: ASGIApp = self._dispatch_after_middleware
        for middleware, options in self._middleware:  # the last added ends up outermost
            app = middleware(app, **options)
        return _ServerErrorGuard(app, self._errors)

    async def _first_call(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.compile()
        if self._app_scope.pending and scope["type"] != "lifespan":
            try:  # no lifespan ran, or an override came in since
                await self._app_scope.start()
            except Exception as exc:
                if scope["type"] != "http":
                    raise
                # A 500 for this request; the next one tries again.
                await self._errors.send(exc, Request(scope, receive), send)
                return
        self._entry = self._stack
        await self(scope, receive, send)  # now compiled: the prematch, if any, runs

    # --- Per request ---------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["app"] = self
        # PERF: without middleware nothing runs before routing, so the route is found
        # once, by the dispatcher; with middleware it is found first, so middleware can
        # read it, and the dispatcher behind them reuses that table walk (a context
        # object per request).
        if self._prematch and scope["type"] != "lifespan":
            # A new context: one an enclosing app made is not ours.
            context = scope[CONTEXT_KEY] = RequestContext()
            self._dispatcher.prematch(scope, context)
        await self._entry(scope, receive, send)

    # PERF: the two below are plain functions handing back the coroutine that serves the
    # request, not coroutines of their own: a frame less in the chain that every
    # resumption of a handler waiting on I/O walks through (bench/conduit.py's reads
    # wait on the database three times a request).

    def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        kind = scope["type"]
        if kind == "http":
            return self._dispatcher.http(scope, receive, send)
        if kind == "lifespan":
            return serve_lifespan(self, receive, send, scope.get("state"))
        if kind == "websocket":
            return self._dispatcher.websocket(scope, receive, send)
        return _ignored()  # a scope type this app does not serve

    def _dispatch_after_middleware(
        self, scope: Scope, receive: Receive, send: Send
    ) -> Awaitable[None]:
        if scope["type"] == "http":
            return self._dispatcher.http_after_middleware(scope, receive, send)
        return self._dispatch(scope, receive, send)

    # --- Lifespan ------------------------------------------------------------------

    async def startup(self, state: dict[str, Any] | None = None) -> None:
        """Compile, start mounted apps' lifespans, run startup hooks, enter ``lifespan``.

        If a step fails, the steps already done are undone (mounted apps stopped).
        """
        self.compile()
        self._errors.debug = self.debug  # config["DEBUG"], also when compiled earlier
        self._entry = self._stack
        self.stopping.clear()
        stack = contextlib.AsyncExitStack()
        self._running = stack
        try:
            for mount in self._dispatcher.mounts:
                if not mount.wsgi:
                    await self._start_mounted(mount.app, stack)
            for enter in self.registry.lifespans:
                await stack.enter_async_context(enter(self))
            for hook in self._startup:
                await self.threads.as_async(hook)()
            stack.push_async_callback(self._run_shutdown_hooks)
            if self._lifespan is not None:
                produced = await stack.enter_async_context(self._lifespan(self))
                if produced is not None and state is not None:
                    state.update(produced)
                if produced is not None:
                    for key, value in produced.items():
                        setattr(self.state, key, value)
            stack.push_async_callback(self._app_scope.close)
            await self._app_scope.start()
        except BaseException:
            self._running = None
            await stack.aclose()
            raise

    async def _start_mounted(self, app: ASGIApp, stack: contextlib.AsyncExitStack) -> None:
        driver = LifespanDriver(app)
        await driver.startup()
        stack.push_async_callback(driver.shutdown)
        if driver.state:
            states = self._dispatcher.mount_states
            states[id(app)] = driver.state
            stack.callback(states.pop, id(app), None)

    async def _run_shutdown_hooks(self) -> None:
        for hook in self._shutdown:
            await self.threads.as_async(hook)()

    async def shutdown(self) -> None:
        """Set ``stopping``, let the extensions finish (running background tasks), then
        undo startup: leave ``lifespan``, run shutdown hooks, stop mounted apps."""
        self.stopping.set()  # first: open streams end while the rest shuts down
        stack, self._running = self._running, None
        for finish in self.registry.shutdown_callbacks:  # background tasks finish first
            await finish(self)
        if stack is not None:
            await stack.aclose()
        self.threads.shutdown()  # its threads exit once idle; it starts again if used

    # --- URLs and running ----------------------------------------------------------

    def url_path_for(self, name: str, /, **params: Any) -> str:
        """The path of the route named ``name`` with ``params`` filled in.

        ``app.url_path_for("read_item", item_id=3)`` -> ``"/items/3"``; for a mount
        (such as ``static``), pass ``path=``: ``url_path_for("static", path="app.css")``.
        """
        return self.dispatcher.url_path_for(name, **params)

    def run(self, host: str = "127.0.0.1", port: int = 8000, **options: Any) -> None:
        """Serve the app with the embedded server (uvicorn). For reload and workers, use
        ``carafe run module:app --reload`` or ``--workers N``."""
        import uvicorn

        options.setdefault("access_log", False)
        uvicorn.run(self, host=host, port=port, **options)


async def _ignored() -> None:
    """What an app does with a scope type it does not serve: nothing."""


class _ServerErrorGuard:
    """Outermost when middleware exists: an error escaping middleware still gets a 500."""

    def __init__(self, app: ASGIApp, errors: ErrorHandlers) -> None:
        self.app = app
        self.errors = errors

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        # PERF: a plain function handing back send's awaitable, not a coroutine of its
        # own: one frame less for each message (bench/inprocess.py).
        def tracking_send(message: Message) -> Awaitable[None]:
            nonlocal started
            if not started and message["type"] == "http.response.start":
                started = True
            return send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                logger.error("Error after the response started", exc_info=exc)
                if scope.get(RAISE_KEY):
                    raise
                return
            await self.errors.send(exc, Request(scope, receive), send)
