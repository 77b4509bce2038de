"""One route's request path: built once at startup, run flat per request.

``build_endpoint`` closes over everything a request needs (the plan, the handler, how
to encode what it returns, the hooks) and returns ``endpoint(scope, receive, send,
values)``. The router hands it the path parameter values in path order.
"""

from __future__ import annotations

import contextlib
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from carafe import codecs
from carafe._concurrency import run_sync
from carafe._plan import Plan, _injector_for, call_kind
from carafe.limits import Limits
from carafe.requests import Request
from carafe.responses import PlainTextResponse, Response

if TYPE_CHECKING:
    from carafe._errors import ErrorHandlers
    from carafe.routing.router import Route
    from carafe.types import Message, Receive, Scope, Send

__all__ = [
    "REQUEST_CLEANUP",
    "RESPONSE_HOOKS",
    "Endpoint",
    "Hooks",
    "build_endpoint",
    "error_sender",
    "head_endpoint",
]

Endpoint = Callable[["Scope", "Receive", "Send", Sequence[str]], Awaitable[None]]
ErrorSender = Callable[[BaseException, Request, "Send"], Awaitable[None]]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_BINARY = b"application/octet-stream"
_NO_BODY = frozenset({204, 304})
_PLAIN_CALL = Response.__call__

# Scope key: a list of ``async hook(start_message)`` run just before the response head is
# sent, success or error. The session registers one when it is loaded (to save itself and
# add ``Vary: Cookie``); a hook must copy ``message["headers"]`` before changing it.
RESPONSE_HOOKS = "carafe.response_hooks"
# Scope key: a list of ``async callback()`` run once the request is over, however it
# ended (answered, failed, client gone). carafe.forms registers one to close uploads;
# an extractor that may register one says so with ``extractor.registers_cleanup = True``.
REQUEST_CLEANUP = "carafe.cleanup"


class Hooks:
    """The app's ``before_request`` and ``after_request`` functions, as async callables.

    ``before`` runs in registration order, ``after`` in reverse, as in Flask: hooks
    nest like middleware, the first registered outermost.
    """

    __slots__ = ("after", "before")

    def __init__(
        self, before: Sequence[Callable[..., Any]] = (), after: Sequence[Callable[..., Any]] = ()
    ) -> None:
        self.before = tuple(_as_async(fn) for fn in before)
        self.after = tuple(_as_async(fn) for fn in reversed(after))


def _as_async(fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    if call_kind(fn) == "async":
        return fn

    async def call(*args: Any) -> Any:
        return await run_sync(fn, *args)

    return call


def response_annotation(route: Route) -> Any:
    """The declared response type: ``response_model=``, else the return annotation."""
    if route.response_model is not None:
        return route.response_model
    try:
        hints = typing.get_type_hints(route.handler, include_extras=True)
    except (NameError, TypeError):
        return None
    annotation = hints.get("return")
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        # ``-> HTMLResponse | Item``: a Response is sent as it is; the rest is the model.
        arms = tuple(
            arm
            for arm in typing.get_args(annotation)
            if not (isinstance(arm, type) and issubclass(arm, Response))
        )
        annotation = typing.Union[arms] if arms else None  # noqa: UP007
    if annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, type) and issubclass(annotation, Response):
        return None
    return annotation


class Unencodable(Exception):
    """The handler's value does not encode as its declared type; nothing was sent yet."""


class Renderer:
    """Turns what a handler returned into bytes on the wire; one per route, built at startup.

    A ``Response`` is sent as it is. Otherwise the route's ``response_class`` wraps the
    value if it has one; else a ``str`` is text/plain, ``bytes`` application/octet-stream,
    and anything else JSON, encoded once as the declared response type.
    """

    __slots__ = ("encode", "response_class", "status")

    def __init__(self, route: Route) -> None:
        annotation = response_annotation(route)
        self.encode = (
            codecs.encode_json if annotation is None else codecs.response_encoder(annotation)
        )
        self.status = route.status_code or 200
        self.response_class = route.response_class

    def to_response(self, result: Any) -> Response:
        if isinstance(result, Response):
            return result
        status = self.status
        if self.response_class is not None:
            return self.response_class(result, status_code=status)
        if type(result) is str:
            return PlainTextResponse(result, status_code=status)
        if isinstance(result, (bytes, bytearray)):
            return Response(bytes(result), status, media_type="application/octet-stream")
        if result is None and status in _NO_BODY:
            return Response(b"", status)
        return Response(self.encode(result), status, media_type="application/json")

    async def send(self, result: Any, scope: Scope, receive: Receive, send: Send) -> None:
        # PERF: the common cases send two messages without building a Response object
        # (bench/inprocess.py, GET /json).
        if self.response_class is not None:
            await self.to_response(result)(scope, receive, send)
            return
        kind = type(result)
        if kind is dict or kind is list:
            try:
                body, content_type = self.encode(result), _JSON
            except Exception as exc:
                raise Unencodable from exc
        elif kind is str:
            body, content_type = result.encode(), _TEXT
        elif isinstance(result, Response):
            if type(result).__call__ is _PLAIN_CALL and result.background is None:
                # PERF: a body-up-front response is sent here, without its own coroutine
                # (bench/inprocess.py, plaintext: 3.63 -> 3.44 µs).
                await send(
                    {
                        "type": "http.response.start",
                        "status": result.status_code,
                        "headers": result.raw_headers,
                    }
                )
                await send({"type": "http.response.body", "body": result.body})
                return
            await result(scope, receive, send)
            return
        elif kind is bytes:
            body, content_type = result, _BINARY
        elif result is None and self.status in _NO_BODY:
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        else:
            try:
                body, content_type = self.encode(result), _JSON
            except Exception as exc:
                raise Unencodable from exc
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


class _Invoker:
    """How to fill and call one route's handler, with the app's hooks; built at startup."""

    __slots__ = ("after", "before", "handler", "is_async", "renderer", "resolve", "resolve_sync")

    def __init__(self, route: Route, plan: Plan, hooks: Hooks) -> None:
        self.handler = route.handler
        self.is_async = call_kind(route.handler) == "async"
        self.resolve = plan.resolve
        self.resolve_sync = plan.resolve_sync if plan.takes_input else _no_input
        self.renderer = Renderer(route)
        self.before, self.after = hooks.before, hooks.after

    async def call(self, request: Request, stack: contextlib.AsyncExitStack | None) -> Any:
        if self.resolve_sync is not None:
            kwargs = self.resolve_sync(request)
        else:
            kwargs = await self.resolve(request, stack)
        if self.is_async:
            return await self.handler(**kwargs)
        return await run_sync(self.handler, **kwargs)

    async def with_hooks(self, request: Request, stack: contextlib.AsyncExitStack | None) -> Any:
        result = None
        for hook in self.before:  # a response from a hook is sent instead, as in Flask
            result = await hook(request)
            if result is not None:
                break
        else:
            result = await self.call(request, stack)
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

    return send_error


def build_endpoint(
    route: Route,
    plan: Plan,
    param_names: tuple[str, ...],
    limits: Limits,
    hooks: Hooks,
    send_error: ErrorSender,
) -> Endpoint:
    """The per-request function for ``route``."""
    invoke = _Invoker(route, plan, hooks)
    handler, handler_is_async = invoke.handler, invoke.is_async
    # PERF: without hooks or a body to await, the handler's coroutine is the only one
    # awaited per request (bench/inprocess.py, GET /json: 4.4 -> 3.9 µs).
    direct = invoke.resolve_sync if not (hooks.before or hooks.after) else None
    run = invoke.with_hooks if hooks.before or hooks.after else invoke.call
    use_stack = plan.has_generators
    renderer = invoke.renderer

    async def endpoint(scope: Scope, receive: Receive, send: Send, values: Sequence[str]) -> None:
        request = Request(scope, receive, send, dict(zip(param_names, values, strict=True)), limits)
        stack = contextlib.AsyncExitStack() if use_stack else None
        try:
            if direct is not None:
                kwargs = direct(request)
                if handler_is_async:
                    result = await handler(**kwargs)
                else:
                    result = await run_sync(handler, **kwargs)
            else:
                result = await run(request, stack)
        except BaseException as exc:
            error = await _unwind(stack, exc)
            hooks = scope.get(RESPONSE_HOOKS)
            await send_error(error, request, send if hooks is None else _hooked(send, hooks))
            return
        # PERF: one dict probe for routes that register no response hook.
        hooks = scope.get(RESPONSE_HOOKS)
        if hooks is not None:
            send = _hooked(send, hooks)
        try:
            await renderer.send(result, scope, receive, send)
        except Unencodable as exc:  # a response model mismatch is the server's error
            await send_error(exc.__cause__ or exc, request, send)
        except BaseException as exc:  # a stream broke off: its dependencies see why
            if stack is not None:
                open_stack, stack = stack, None
                await open_stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
        finally:
            if stack is not None:
                await stack.aclose()

    return _with_cleanup(_with_after_response(endpoint, plan), plan, hooks)


def _with_cleanup(endpoint: Endpoint, plan: Plan, hooks: Hooks) -> Endpoint:
    """Run the ``REQUEST_CLEANUP`` callbacks when the request is over, however it ended.

    Wrapped only where one can be registered: a route with an extractor that says so
    (``Form``/``File`` parameters), one that sees the ``Request`` (``await
    request.form()``), or an app with request hooks. Other routes pay nothing.
    """
    sees_request = _injector_for(Request)
    extractors = [e for c in plan.calls for _, e in (*c.sync_params, *c.async_params)]
    if not (
        hooks.before
        or hooks.after
        or any(e is sees_request or getattr(e, "registers_cleanup", False) for e in extractors)
    ):
        return endpoint

    async def endpoint_then_clean_up(
        scope: Scope, receive: Receive, send: Send, values: Sequence[str]
    ) -> None:
        try:
            await endpoint(scope, receive, send, values)
        finally:
            callbacks = scope.pop(REQUEST_CLEANUP, None)
            if callbacks:
                for callback in reversed(callbacks):
                    await callback()

    return endpoint_then_clean_up


def _no_input(request: Request) -> dict[str, Any]:
    return {}


def _with_after_response(endpoint: Endpoint, plan: Plan) -> Endpoint:
    """Run the ``after_response(scope)`` hooks of the plan's injectables (BackgroundTasks)
    once a response with a status below 400 has been sent.

    Found once at startup: a route that injects no such type is returned unwrapped.
    """
    found: dict[Callable[[Scope], None], None] = {}
    for call in plan.calls:
        for _, extract in (*call.sync_params, *call.async_params):
            finish = getattr(extract, "after_response", None)
            if finish is not None:
                found[finish] = None
    if not found:
        return endpoint
    finishers = tuple(found)

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
        if status < 400:
            for finish in finishers:
                finish(scope)

    return endpoint_then_finish


def _hooked(send: Send, hooks: list[Callable[[Message], Awaitable[None]]]) -> Send:
    async def send_after_hooks(message: Message) -> None:
        if message["type"] == "http.response.start":
            for hook in hooks:
                await hook(message)
        await send(message)

    return send_after_hooks


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


async def _unwind(stack: contextlib.AsyncExitStack | None, exc: BaseException) -> Exception:
    """Throw ``exc`` into each yield dependency, newest first; the exception to answer.

    A dependency may turn it into another (say, an HTTPError), which is then answered.
    A cancellation is re-raised once the dependencies are cleaned up.
    """
    if stack is not None:
        try:
            await stack.__aexit__(type(exc), exc, exc.__traceback__)
        except Exception as cleanup_error:
            if isinstance(exc, Exception):
                return cleanup_error
    if not isinstance(exc, Exception):
        raise exc
    return exc
