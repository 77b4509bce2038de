"""One route's request path: built once at startup, run flat per request.

``build_endpoint`` closes over everything a request needs (the plan, the handler, how
to encode what it returns, the hooks) and returns ``endpoint(scope, receive, send,
values)``. The router hands it the path parameter values in path order.
"""

from __future__ import annotations

import contextlib
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from carafe import codecs
from carafe._concurrency import run_sync
from carafe._plan import Plan, call_kind
from carafe.limits import Limits
from carafe.requests import Request
from carafe.responses import PlainTextResponse, Response

if TYPE_CHECKING:
    from carafe.routing.router import Route
    from carafe.types import Message, Receive, Scope, Send

__all__ = ["RESPONSE_HOOKS", "Endpoint", "Hooks", "build_endpoint", "head_endpoint"]

Endpoint = Callable[["Scope", "Receive", "Send", Sequence[str]], Awaitable[None]]
ErrorSender = Callable[[BaseException, Request, "Send"], Awaitable[None]]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_BINARY = b"application/octet-stream"
_NO_BODY = frozenset({204, 304})

# Scope key: a list of ``async hook(start_message)`` run just before the response head is
# sent, success or error. The session registers one when it is loaded (to save itself and
# add ``Vary: Cookie``); a hook must copy ``message["headers"]`` before changing it.
RESPONSE_HOOKS = "carafe.response_hooks"


class Hooks:
    """The app's ``before_request`` and ``after_request`` functions, as async callables."""

    __slots__ = ("after", "before")

    def __init__(
        self, before: Sequence[Callable[..., Any]] = (), after: Sequence[Callable[..., Any]] = ()
    ) -> None:
        self.before = tuple(_as_async(fn) for fn in before)
        self.after = tuple(_as_async(fn) for fn in after)


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
    if annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, type) and issubclass(annotation, Response):
        return None
    return annotation


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
            body, content_type = self.encode(result), _JSON
        elif kind is str:
            body, content_type = result.encode(), _TEXT
        elif isinstance(result, Response):
            await result(scope, receive, send)
            return
        elif kind is bytes:
            body, content_type = result, _BINARY
        elif result is None and self.status in _NO_BODY:
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        else:
            body, content_type = self.encode(result), _JSON
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


def build_endpoint(
    route: Route,
    plan: Plan,
    param_names: tuple[str, ...],
    limits: Limits,
    hooks: Hooks,
    send_error: ErrorSender,
) -> Endpoint:
    """The per-request function for ``route``."""
    handler = route.handler
    handler_is_async = call_kind(handler) == "async"
    resolve = plan.resolve
    takes_input = plan.takes_input
    use_stack = plan.has_generators
    renderer = Renderer(route)
    before, after = hooks.before, hooks.after

    async def run(request: Request, stack: contextlib.AsyncExitStack | None) -> Any:
        result = None
        for hook in before:  # a response from a hook is sent instead, as in Flask
            result = await hook(request)
            if result is not None:
                break
        else:
            kwargs = await resolve(request, stack) if takes_input else {}
            if handler_is_async:
                result = await handler(**kwargs)
            else:
                result = await run_sync(handler, **kwargs)
        if after:
            response = renderer.to_response(result)
            for hook in after:
                response = await hook(request, response) or response
            return response
        return result

    async def endpoint(scope: Scope, receive: Receive, send: Send, values: Sequence[str]) -> None:
        request = Request(scope, receive, send, dict(zip(param_names, values, strict=True)), limits)
        stack = contextlib.AsyncExitStack() if use_stack else None
        try:
            result = await run(request, stack)
        except Exception as exc:
            error: Exception = exc
            if stack is not None:
                # The exception is thrown into each yield dependency, newest first; one
                # may turn it into another (say, an HTTPError), which is then answered.
                try:
                    await stack.__aexit__(type(exc), exc, exc.__traceback__)
                except Exception as cleanup_error:
                    error = cleanup_error
            hooks = scope.get(RESPONSE_HOOKS)
            await send_error(error, request, send if hooks is None else _hooked(send, hooks))
            return
        # PERF: one dict probe for routes that register no response hook.
        hooks = scope.get(RESPONSE_HOOKS)
        if hooks is not None:
            send = _hooked(send, hooks)
        try:
            await renderer.send(result, scope, receive, send)
        finally:
            if stack is not None:
                await stack.aclose()

    return endpoint


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
