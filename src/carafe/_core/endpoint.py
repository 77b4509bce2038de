"""One route's request path: built once at startup, run flat per request.

``build_endpoint`` closes over everything a request needs (the plan, the handler, the
renderer, the hooks) and returns ``endpoint(scope, receive, send, values)``. The
router hands it the path parameter values in path order.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from carafe._concurrency import IO_POOL, ThreadPool
from carafe._core.plan import Plan
from carafe._core.render import Renderer, Unencodable
from carafe._core.unwind import Exits
from carafe._errors import send_unfinished_body
from carafe.context import CONTEXT_KEY, RequestContext
from carafe.exceptions import ClientDisconnect
from carafe.limits import Limits
from carafe.requests import Request

if TYPE_CHECKING:
    from carafe._errors import ErrorHandlers
    from carafe.routing.router import Route
    from carafe.types import Message, Receive, Scope, Send

__all__ = ["Endpoint", "Hooks", "build_endpoint", "error_sender", "head_endpoint"]

Endpoint = Callable[["Scope", "Receive", "Send", Sequence[str]], Awaitable[None]]
ErrorSender = Callable[[BaseException, Request, "Send"], Awaitable[None]]


class Hooks:
    """The app's ``before_request`` and ``after_request`` functions, as async callables.

    ``before`` runs in registration order, ``after`` in reverse, as in Flask: hooks
    nest like middleware, the first registered outermost.
    """

    __slots__ = ("after", "before")

    def __init__(
        self,
        before: Sequence[Callable[..., Any]] = (),
        after: Sequence[Callable[..., Any]] = (),
        pool: ThreadPool | None = None,
    ) -> None:
        pool = pool or IO_POOL
        self.before = tuple(pool.as_async(fn) for fn in before)
        self.after = tuple(pool.as_async(fn) for fn in reversed(after))

    def __bool__(self) -> bool:
        return bool(self.before or self.after)


class _Invoker:
    """How to fill and call one route's handler, with the app's hooks; built at startup."""

    __slots__ = (
        "after",
        "before",
        "direct",
        "function_exits",
        "handler",
        "renderer",
        "resolve",
        "resolve_sync",
        "run",
    )

    def __init__(self, route: Route, plan: Plan, hooks: Hooks, renderer: Renderer) -> None:
        self.handler = plan.pool.as_async(route.handler)
        self.resolve = plan.resolve
        self.resolve_sync = plan.resolve_sync if plan.takes_input else _no_input
        self.renderer = renderer
        self.before, self.after = hooks.before, hooks.after
        # PERF: without hooks or a body to await, the handler's coroutine is the only one
        # awaited per request (bench/inprocess.py, GET /json: 4.4 -> 3.9 µs).
        self.direct = self.resolve_sync if not hooks else None
        self.run = self.with_hooks if hooks else self.call
        # With hooks, with_hooks finishes them itself, before the after-request hooks.
        self.function_exits = not hooks and any(
            c.scope == "function" and c.kind in ("asyncgen", "gen") for c in plan.calls
        )

    async def call(self, request: Request, exits: Exits | None) -> Any:
        if self.resolve_sync is not None:
            kwargs = self.resolve_sync(request)
        else:
            kwargs = await self.resolve(request, exits)
        return await self.handler(**kwargs)

    async def with_hooks(self, request: Request, exits: Exits | None) -> Any:
        result = None
        for hook in self.before:  # a response from a hook is sent instead, as in Flask
            result = await hook(request)
            if result is not None:
                break
        else:
            result = await self.call(request, exits)
            if exits is not None and exits.function:
                await _finish_function(exits)
        if not self.after:
            return result
        response = self.renderer.to_response(result)
        for hook in self.after:
            response = await hook(request, response) or response
        return response


def error_sender(errors: ErrorHandlers, hooks: Hooks) -> ErrorSender:
    """``errors.send``, with the error's response passed through the after-request hooks.

    As in Flask, ``after_request`` sees error responses too (a 404 the handler raised, a
    500). If a hook fails on an error response, the response for that failure is sent
    as it is. Without after-request hooks this is ``errors.send`` itself.
    """
    after = hooks.after
    if not after:
        return errors.send

    async def send_error(exc: BaseException, request: Request, send: Send) -> None:
        response = await errors.response_for(exc, request)  # None: the client is gone
        try:
            for hook in after if response is not None else ():
                response = await hook(request, response) or response
        except Exception as hook_error:
            response = await errors.response_for(hook_error, request)
        if response is not None:
            await response(request.scope, request.receive, send)
        elif isinstance(exc, ClientDisconnect):
            await send_unfinished_body(request, send)

    return send_error


def build_endpoint(
    route: Route,
    plan: Plan,
    param_names: tuple[str, ...],
    limits: Limits,
    hooks: Hooks,
    send_error: ErrorSender,
    renderer: Renderer,
) -> Endpoint:
    """The per-request function for ``route``."""
    invoke = _Invoker(route, plan, hooks, renderer)
    handler, direct, run = invoke.handler, invoke.direct, invoke.run
    use_exits, function_exits = plan.has_generators, invoke.function_exits

    async def endpoint(scope: Scope, receive: Receive, send: Send, values: Sequence[str]) -> None:
        request = Request(scope, receive, send, dict(zip(param_names, values, strict=True)), limits)
        exits = Exits() if use_exits else None
        try:
            if direct is not None:
                result = await handler(**direct(request))
            else:
                result = await run(request, exits)
            if function_exits:
                await _finish_function(exits)
        except BaseException as exc:
            await _answer(send_error, await _answerable(exits, exc), request, send)
            return
        # PERF: one dict probe when nothing registered a response hook (GET /json).
        raw_send = send
        context: RequestContext | None = scope.get(CONTEXT_KEY)
        if context is not None and context.response_hooks:
            send = _hooked(scope, send)
        try:
            await renderer.send(result, scope, receive, send)
        except Unencodable as exc:  # a response model mismatch is the server's error
            await send_error(exc.__cause__ or exc, request, send)
        except HookFailed as failed:  # a session that could not be saved: nothing sent yet
            await _answer(send_error, failed.error, request, raw_send)
        except BaseException as exc:  # a stream broke off: its dependencies see why
            if exits is not None:
                open_exits, exits = exits, None
                await open_exits.finish(exc)
            raise
        finally:
            if exits is not None:
                await _finish_request(exits)

    return _with_cleanup(_with_after_response(endpoint, plan), plan, hooks)


async def _finish_function(exits: Exits | None) -> None:
    """Finish the ``scope="function"`` dependencies; an error there is the response's."""
    assert exits is not None
    error = await exits.finish_function(None)
    if error is not None:
        raise error


async def _finish_request(exits: Exits) -> None:
    """Finish the dependencies still open once the response is sent."""
    error = await exits.finish(None)
    if error is not None:
        raise error


async def _answer(send_error: ErrorSender, error: Exception, request: Request, send: Send) -> None:
    """Send the response for ``error``, through the response hooks if they can run."""
    try:
        await send_error(error, request, _hooked(request.scope, send))
    except HookFailed as failed:  # nothing was sent: answer the hook's error instead
        await send_error(failed.error, request, send)


async def _answerable(exits: Exits | None, exc: BaseException) -> Exception:
    """Throw ``exc`` into each open yield dependency, newest first; the error to answer.

    A dependency may turn it into another (say, an HTTPError), which is then answered.
    A cancellation is re-raised once the dependencies are cleaned up.
    """
    if exits is not None:
        error = await exits.finish(exc)
        if isinstance(error, Exception) and error is not exc and isinstance(exc, Exception):
            return error
    if not isinstance(exc, Exception):
        raise exc
    return exc


class HookFailed(Exception):
    """A response hook raised before the response head was sent: ``error`` is answered
    instead (without the hooks), as a session store that is down becomes a 503."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def _hooked(scope: Scope, send: Send) -> Send:
    """``send``, running the context's response hooks before the response head."""
    context: RequestContext | None = scope.get(CONTEXT_KEY)
    if context is None or not context.response_hooks:
        return send
    hooks = context.response_hooks

    async def send_after_hooks(message: Message) -> None:
        if message["type"] == "http.response.start":
            try:
                for hook in hooks:
                    await hook(message)
            except Exception as exc:
                hooks.clear()  # the error's own response runs none of them again
                raise HookFailed(exc) from exc
        await send(message)

    return send_after_hooks


def _with_cleanup(endpoint: Endpoint, plan: Plan, hooks: Hooks) -> Endpoint:
    """Run the context's cleanup callbacks when the request is over, however it ended.

    Wrapped only where one can be registered: a route whose plan says so (``Form``/
    ``File`` parameters, the ``Request`` itself: ``await request.form()``), or an app
    with request hooks. Other routes pay nothing.
    """
    if not (hooks or plan.cleans_up):
        return endpoint

    async def endpoint_then_clean_up(
        scope: Scope, receive: Receive, send: Send, values: Sequence[str]
    ) -> None:
        try:
            await endpoint(scope, receive, send, values)
        finally:
            context: RequestContext | None = scope.get(CONTEXT_KEY)
            if context is not None and context.cleanups:
                await context.run_cleanups()

    return endpoint_then_clean_up


def _no_input(request: Request) -> dict[str, Any]:
    return {}


def _with_after_response(endpoint: Endpoint, plan: Plan) -> Endpoint:
    """Run the plan's providers' ``after_response(app, context)`` (BackgroundTasks) once a
    response with a status below 400 has been sent.

    Found once at startup: a route that uses no such provider is returned unwrapped.
    """
    finishers = tuple(p.after_response for p in plan.providers if p.after_response is not None)
    if not finishers:
        return endpoint

    async def endpoint_then_finish(
        scope: Scope, receive: Receive, send: Send, values: Sequence[str]
    ) -> None:
        status = 500

        async def watch_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        await endpoint(scope, receive, watch_status, values)
        context: RequestContext | None = scope.get(CONTEXT_KEY)
        if status < 400 and context is not None:
            for finish in finishers:
                finish(scope["app"], context)

    return endpoint_then_finish


def head_endpoint(endpoint: Endpoint) -> Endpoint:
    """Answer HEAD with a GET endpoint: the same status and headers, no body."""

    async def head(scope: Scope, receive: Receive, send: Send, values: Sequence[str]) -> None:
        async def send_headers_only(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b""}
            await send(message)

        await endpoint(scope, receive, send_headers_only, values)  # type: ignore[arg-type]

    return head
