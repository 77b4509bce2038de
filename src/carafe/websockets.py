"""``WebSocket``: one websocket connection, and the endpoint that serves websocket routes.

::

    @app.websocket("/ws/{room}")
    async def chat(ws: WebSocket, room: str, user: User = Depends(current_user)) -> None:
        await ws.accept()
        async for message in ws.iter_json(ChatMessage):
            await ws.send_json({"room": room, "from": user.name, "text": message.text})

Path, query, header and cookie parameters and dependencies are resolved before the
handshake is answered. If one fails (an auth dependency raising ``HTTPError(401)``, a
query parameter of the wrong type), the connection is denied with that status and a
problem+json body where the server supports the ``websocket.http.response`` extension
(uvicorn and the test clients do), else closed with 1008. After ``accept()``:

==================================  ===============================================
the client goes away                ``WebSocketDisconnect`` from ``receive_*`` and
                                    ``send_*``; the handler ends quietly
a message larger than the limit     close 1009 (``max_message_size``, 1 MiB by
                                    default; the server's own limit stops larger
                                    messages before the app: see docs/deployment.md)
binary where text is expected       close 1003 (and text where binary is expected)
``receive_json(Model)`` invalid     ``RequestValidationError``, which the handler may
                                    catch and answer; uncaught, close 1007
a 503 ``HTTPError`` uncaught        close 1013 (try again later), its detail as the
                                    reason (``BrokerUnavailable``: Redis is down)
another ``HTTPError`` uncaught      close 1008, its detail as the reason
any other error                     logged with its traceback, close 1011 and no
                                    details sent
the handler returns                 close 1000 if the connection is still open
==================================  ===============================================

A browser sends the visitor's cookies with a handshake from any site, so a handshake
that carries cookies and an ``Origin`` other than the app's own (same scheme, host and
port as the ``Host`` header) or one of ``Carafe(websocket_origins=[...])`` is denied
with 403 before anything else runs (cross-site websocket hijacking). Handshakes without
cookies (token auth) or without ``Origin`` (clients that are not browsers) pass.

Sending is flow-controlled by the server: ``send_*`` waits while the client is not
reading, so a slow client never makes the server buffer without bound. A handler that
sends without receiving still learns that its client left: from its second send in a
row, a receive waits in the background, and the send after it reports a disconnect
raises ``WebSocketDisconnect`` (granian's ``send`` keeps returning for a gone client).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, cast

from carafe._concurrency import call_kind
from carafe._core import codecs
from carafe._core.plan import Plan
from carafe._core.unwind import Exits
from carafe._errors import logger
from carafe._origins import TrustedOrigins, own_origin, parse_origin
from carafe.context import RAISE_KEY
from carafe.exceptions import (
    ConfigurationError,
    HTTPError,
    RequestValidationError,
    WebSocketDisconnect,
)
from carafe.requests import HTTPConnection, Request

if TYPE_CHECKING:
    from carafe._core.endpoint import Endpoint
    from carafe.extensions import Registry
    from carafe.routing.router import WebSocketRoute
    from carafe.types import Message, Receive, Scope, Send

__all__ = [
    "MAX_MESSAGE_SIZE",
    "WebSocket",
    "WebSocketDisconnect",
    "WebSocketExtension",
    "build_websocket_endpoint",
    "deny_websocket",
    "foreign_origin",
]

MAX_MESSAGE_SIZE = 1024 * 1024
"""The default bound on one received message, in bytes (per route: ``max_message_size``)."""

CONNECTING, CONNECTED, CLOSED = "connecting", "connected", "closed"

_HTTP_RESPONSE = "websocket.http.response"
_MAX_REASON = 123  # bytes, RFC 6455 section 5.5
_RECEIVING = -1  # ``_streak`` while the handler's own receive is in flight
_YIELD_EVERY = 16  # sends in a row between two turns given to the event loop


class WebSocket(HTTPConnection):
    """One websocket connection. Inject it by annotating a parameter with ``WebSocket``.

    Headers, query parameters, cookies, path parameters and ``url`` work as on
    ``Request``. ``connection_state`` is ``"connecting"``, ``"connected"`` or
    ``"closed"``; ``close_code`` is set once the connection is closed.
    """

    __slots__ = (
        "_receive",
        "_send",
        "_streak",
        "_watch",
        "close_code",
        "connection_state",
        "max_message_size",
    )

    def __init__(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        path_params: dict[str, Any] | None = None,
        max_message_size: int = MAX_MESSAGE_SIZE,
    ) -> None:
        super().__init__(scope, path_params)
        self._receive = receive
        self._send = send
        self.max_message_size = max_message_size
        self.connection_state = CONNECTING
        self.close_code: int | None = None
        self._streak = 0  # sends since the last receive, or _RECEIVING
        self._watch: asyncio.Future[Message] | None = None  # a receive started by a send

    @property
    def subprotocols(self) -> list[str]:
        """The subprotocols the client offered, in its order of preference."""
        return list(self.scope.get("subprotocols", ()))

    async def accept(
        self, subprotocol: str | None = None, headers: Mapping[str, str] | None = None
    ) -> None:
        """Complete the handshake, choosing ``subprotocol`` and adding ``headers``.

        Raises ``WebSocketDisconnect`` if the client left before the handshake.
        """
        if self.connection_state != CONNECTING:
            raise RuntimeError("accept() was already called, or the websocket is closed")
        message = await self._receive()
        if message["type"] == "websocket.disconnect":
            self._closed(message.get("code", 1006))
            raise WebSocketDisconnect(self.close_code or 1006)
        reply: dict[str, Any] = {"type": "websocket.accept", "subprotocol": subprotocol}
        if headers:
            reply["headers"] = [
                (key.lower().encode("latin-1"), value.encode("latin-1"))
                for key, value in headers.items()
            ]
        await self._send_message(reply)
        self.connection_state = CONNECTED

    async def receive(self) -> Message:
        """The next ASGI ``websocket.receive`` message; ``WebSocketDisconnect`` once closed."""
        if self.connection_state != CONNECTED:
            if self.connection_state == CLOSED:
                raise WebSocketDisconnect(self.close_code or 1006)
            raise RuntimeError("Call accept() before receiving")
        watch = self._watch
        if watch is not None:
            self._watch = None
            message = await watch
        else:
            self._streak = _RECEIVING
            try:
                message = await self._receive()
            finally:
                self._streak = 0
        if message["type"] == "websocket.disconnect":
            await self._lost(message)
        return message

    async def receive_text(self) -> str:
        """The next message, which must be text (else close 1003) within the size limit."""
        message = await self.receive()
        text: str | None = message.get("text")
        if text is None:
            await self._refuse(1003, "Expected a text message, got binary")
        self._check_size(text)
        return text

    async def receive_bytes(self) -> bytes:
        """The next message, which must be binary (else close 1003) within the size limit."""
        message = await self.receive()
        data: bytes | None = message.get("bytes")
        if data is None:
            await self._refuse(1003, "Expected a binary message, got text")
        self._check_size(data)
        return data

    async def receive_json(self, model: Any = None) -> Any:
        """The next message (text or binary) decoded as JSON, as ``model`` if given.

        Malformed JSON, or JSON that does not fit ``model``, raises
        ``RequestValidationError`` (``errors`` as in HTTP 422s, with ``loc`` starting
        at ``"message"``). Catch it to answer the client and go on; uncaught, the
        connection is closed with 1007.
        """
        message = await self.receive()
        data = message.get("text")
        if data is None:
            data = message.get("bytes") or b""
        self._check_size(data)
        return _decoder(model)(data)

    async def iter_text(self) -> AsyncIterator[str]:
        """Text messages until the client closes the connection."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_text()

    async def iter_bytes(self) -> AsyncIterator[bytes]:
        """Binary messages until the client closes the connection."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_bytes()

    async def iter_json(self, model: Any = None) -> AsyncIterator[Any]:
        """JSON messages (as ``model`` if given) until the client closes the connection."""
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                yield await self.receive_json(model)

    async def send_text(self, data: str) -> None:
        """Send a text message; waits while the client is not reading."""
        await self._send_data({"type": "websocket.send", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        """Send a binary message; waits while the client is not reading."""
        await self._send_data({"type": "websocket.send", "bytes": data})

    async def send_json(self, data: Any, *, binary: bool = False) -> None:
        """Send ``data`` (anything JSON-able, models included) as one JSON message."""
        encoded = codecs.encode_json(data)
        if binary:
            await self._send_data({"type": "websocket.send", "bytes": encoded})
        else:
            await self._send_data({"type": "websocket.send", "text": encoded.decode()})

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close the connection (before ``accept()``, the server answers 403)."""
        if self.connection_state == CLOSED:
            return
        self._closed(code)
        with contextlib.suppress(OSError):  # the client may be gone already
            await self._send({"type": "websocket.close", "code": code, "reason": _reason(reason)})

    async def deny(self, error: HTTPError) -> None:
        """Refuse the handshake with ``error`` (see ``deny_websocket``)."""
        if self.connection_state != CONNECTING:
            raise RuntimeError("deny() is only possible before accept()")
        self._closed(1008)
        await deny_websocket(self.scope, self._send, error)

    # --- Internals -------------------------------------------------------------------

    def _closed(self, code: int) -> None:
        self.connection_state = CLOSED
        self.close_code = code

    async def _send_message(self, message: Message) -> None:
        try:
            await self._send(message)
        except OSError:  # uvicorn's ClientDisconnected: the client is gone
            self._closed(1006)
            raise WebSocketDisconnect(1006) from None

    async def _send_data(self, message: Message) -> None:
        if self.connection_state != CONNECTED:
            if self.connection_state == CLOSED:
                raise WebSocketDisconnect(self.close_code or 1006)
            raise RuntimeError("Call accept() before sending")
        await self._send_message(message)
        streak = self._streak
        if streak != _RECEIVING:
            # PERF: a handler that alternates receive and send (an echo) never gets here
            # past one comparison; only a second send in a row starts watching.
            self._streak = streak = streak + 1
            if streak > 1:
                await self._check_gone(streak)

    async def _check_gone(self, streak: int) -> None:
        """Raise ``WebSocketDisconnect`` if a background receive saw the client leave.

        The first call starts that receive. Its message, if it is not a disconnect,
        waits for the handler's next ``receive``.
        """
        watch = self._watch
        if watch is None:
            self._watch = asyncio.ensure_future(self._receive())
        elif watch.done():
            if watch.cancelled() or watch.exception() is not None:  # the receive failed
                self._watch = None
                await self._lost({"code": 1006})
            message = watch.result()
            if message["type"] == "websocket.disconnect":
                self._watch = None
                await self._lost(message)
        if streak % _YIELD_EVERY == 0:
            # NOTE: granian's send to a gone client returns without suspending. Without
            # this turn the loop would run neither the receive's completion nor any
            # other connection (before it: 310-840 ms stalls).
            await asyncio.sleep(0)

    async def _lost(self, message: Message) -> NoReturn:
        """The client is gone (``message`` is the server's disconnect): raise it.

        granian reports a protocol violation (a reserved opcode, an unmasked or
        oversized frame, invalid UTF-8) as a disconnect with 1005, and sends its close
        frame only when the app does: Carafe sends 1002, the closest code it can know.
        Where the client itself closed, its close was already answered and the server
        drops this one.
        """
        code = message.get("code", 1005)
        self._closed(code)
        if code == 1005:
            with contextlib.suppress(OSError):
                await self._send({"type": "websocket.close", "code": 1002, "reason": ""})
        raise WebSocketDisconnect(code, message.get("reason") or "")

    def _unwatch(self) -> None:
        """Drop the background receive, if any, when the connection ends."""
        watch, self._watch = self._watch, None
        if watch is not None:
            if watch.done():
                if not watch.cancelled():
                    watch.exception()  # retrieved: nothing is logged for it
            else:
                watch.cancel()

    def _check_size(self, data: str | bytes) -> None:
        limit = self.max_message_size
        # PERF: a str has at most 4 UTF-8 bytes per character; encode only when that
        # bound exceeds the limit, so ordinary messages are never copied.
        if isinstance(data, str) and len(data) * 4 > limit:
            size = len(data.encode())
        elif isinstance(data, bytes):
            size = len(data)
        else:
            return
        if size > limit:
            raise _TooBig(f"Message of {size} bytes is over the limit of {limit}")

    async def _refuse(self, code: int, reason: str) -> NoReturn:
        await self.close(code, reason)
        raise WebSocketDisconnect(code, reason)

    def __repr__(self) -> str:
        return f"<WebSocket {self.path} {self.connection_state}>"


async def deny_websocket(scope: Scope, send: Send, error: HTTPError) -> None:
    """Refuse a websocket handshake with ``error`` as an HTTP problem+json response.

    Where the server lacks the ``websocket.http.response`` extension, the connection
    is closed with 1008 instead (servers answer that with a bare 403).
    """
    with contextlib.suppress(OSError):  # the client may be gone already
        if _HTTP_RESPONSE not in (scope.get("extensions") or {}):
            await send({"type": "websocket.close", "code": 1008, "reason": _reason(error.detail)})
            return
        body = codecs.encode_json(error.problem())
        headers = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in error.headers.items()
        ]
        headers += [
            (b"content-type", b"application/problem+json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(
            {
                "type": "websocket.http.response.start",
                "status": error.status_code,
                "headers": headers,
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})


class _TooBig(Exception):
    """A received message is over ``max_message_size``: the endpoint closes with 1009."""


def _reason(text: str) -> str:
    """``text`` cut to the 123 bytes a close frame's reason may hold."""
    data = text.encode()
    if len(data) <= _MAX_REASON:
        return text
    return data[: _MAX_REASON - 3].decode(errors="ignore") + "..."


# --- JSON messages --------------------------------------------------------------------

_decoders: dict[Any, Callable[[str | bytes], Any]] = {}


def _decoder(model: Any) -> Callable[[str | bytes], Any]:
    # PERF: a decoder is built once per model type and kept; receive_json costs one
    # dict probe and one msgspec call.
    decode = _decoders.get(model)
    if decode is None:
        decode = _decoders[model] = _build_decoder(model)
    return decode


def _build_decoder(model: Any) -> Callable[[str | bytes], Any]:
    typed = codecs.body_decoder(model if model is not None else Any, ("message",))

    def decode(data: str | bytes) -> Any:
        try:
            return typed(cast(bytes, data))
        except RequestValidationError:
            raise
        except HTTPError as exc:  # malformed JSON: one error shape for all bad messages
            detail = {"loc": ["message"], "msg": exc.detail, "type": "json_invalid"}
            raise RequestValidationError([detail]) from None  # type: ignore[list-item]

    return decode


# --- The endpoint ---------------------------------------------------------------------


def foreign_origin(scope: Scope, trusted: TrustedOrigins) -> HTTPError | None:
    """The 403 for a cookie-carrying handshake from another site, or None to go on.

    ``Origin: https://evil.example`` with the victim's cookies is refused; without
    cookies (token auth) or without ``Origin`` (not a browser) the handshake passes.
    """
    origin: bytes | None = None
    cookies = False
    for name, value in scope["headers"]:
        if name == b"origin":
            origin = value
        elif name == b"cookie":
            cookies = True
    if origin is None or not cookies or trusted.anything:
        return None
    parsed = parse_origin(origin.decode("latin-1"))
    if parsed is not None and (parsed == own_origin(scope) or parsed in trusted):
        return None
    return HTTPError(
        403,
        "This websocket handshake came from another site's page; "
        "list that origin in Carafe(websocket_origins=[...]) if it is yours.",
    )


def build_websocket_endpoint(
    route: WebSocketRoute,
    plan: Plan,
    param_names: tuple[str, ...],
    origins: TrustedOrigins | None = None,
) -> Endpoint:
    """The per-connection function for ``route``: resolve, call the handler, close.

    ``origins`` are the pages' origins accepted besides the app's own (see
    ``foreign_origin``).
    """
    handler = route.handler
    if call_kind(handler) != "async":
        name = getattr(handler, "__qualname__", repr(handler))
        raise ConfigurationError(f"Websocket handler {name} must be an async function")
    resolve = plan.resolve
    takes_input = plan.takes_input
    use_exits = plan.has_generators
    max_size = route.max_message_size or MAX_MESSAGE_SIZE
    trusted = TrustedOrigins() if origins is None else origins

    async def endpoint(scope: Scope, receive: Receive, send: Send, values: Sequence[str]) -> None:
        refusal = foreign_origin(scope, trusted)
        if refusal is not None:
            await deny_websocket(scope, send, refusal)
            return
        websocket = WebSocket(
            scope, receive, send, dict(zip(param_names, values, strict=True)), max_size
        )
        exits = Exits() if use_exits else None
        kwargs: dict[str, Any] = {}
        error: Exception | None = None
        try:
            if takes_input:
                # The plan's extractors read only the parts a WebSocket shares with a
                # Request (path, query, headers, cookies).
                kwargs = await resolve(cast(Request, websocket), exits)
            await handler(**kwargs)
        except WebSocketDisconnect:
            pass
        except _TooBig as exc:
            await websocket.close(1009, str(exc))
        except Exception as exc:
            error = exc
        if exits is not None:
            error = await _leave(exits, error)
        await _finish(websocket, error)

    return endpoint


async def _leave(exits: Exits, error: Exception | None) -> Exception | None:
    """Finish the yield dependencies, throwing ``error`` in at their ``yield``; the error
    to close with (None when a dependency swallowed it)."""
    left = await exits.finish(error)
    if left is not None and not isinstance(left, Exception):
        raise left
    return left


async def _finish(websocket: WebSocket, error: Exception | None) -> None:
    """Close the connection in the way ``error`` (or its absence) calls for."""
    websocket._unwatch()
    connecting = websocket.connection_state == CONNECTING
    if error is None:
        await websocket.close(1000)
    elif isinstance(error, RequestValidationError) and not connecting:
        await websocket.close(1007, _summary(error))
    elif isinstance(error, HTTPError):
        if connecting:
            await websocket.deny(error)
        else:
            await websocket.close(1013 if error.status_code == 503 else 1008, error.detail)
    else:
        logger.error("Unhandled error in websocket %s", websocket.path, exc_info=error)
        if connecting:
            await websocket.deny(HTTPError(500, "The server failed to answer this request."))
        else:
            await websocket.close(1011, "Internal error")
        if websocket.scope.get(RAISE_KEY):
            raise error


def _summary(error: RequestValidationError) -> str:
    first = error.errors[0]
    where = ".".join(str(part) for part in first["loc"])
    return f"Invalid message at {where}: {first['msg']}"


def _same(connection: Request) -> Any:
    if not isinstance(connection, WebSocket):
        raise TypeError("A WebSocket parameter only works in a websocket route")
    return connection


class WebSocketExtension:
    """Provides ``WebSocket`` to websocket handlers and their dependencies."""

    def install(self, registry: Registry) -> None:
        registry.provide(WebSocket, _same)
