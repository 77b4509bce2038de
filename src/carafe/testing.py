"""Test clients that call the app in-process, through httpx.

``TestClient`` is a plain ``httpx.Client``; ``AsyncTestClient`` an ``httpx.AsyncClient``.
Used as context managers, both run the app's lifespan. Both share one ASGI exchange
(``_exchange``): the sync client runs it on an event loop in a helper thread.

    with TestClient(app) as client:
        assert client.get("/").json() == {"hello": "world"}

Responses stream: ``client.stream("GET", "/events")`` yields chunks as the app sends
them, and closing the response tells the app the client went away.

Websockets too: ``with client.websocket_connect("/ws") as ws: ws.send_text("hi")``
(``async with`` on ``AsyncTestClient``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator, Mapping, Sequence
from concurrent.futures import Future
from typing import Any, TypeVar
from urllib.parse import unquote

import httpx
import msgspec

from carafe._core.codecs import encode_json
from carafe.context import RAISE_KEY
from carafe.exceptions import WebSocketDisconnect
from carafe.lifespan import LifespanDriver
from carafe.types import ASGIApp, Message

__all__ = [
    "AsyncTestClient",
    "AsyncWebSocketSession",
    "TestClient",
    "WebSocketDenied",
    "WebSocketSession",
]

T = TypeVar("T")
_END = object()


class _Exchange:
    """One request/response with the app, run as a task on the loop that owns it."""

    def __init__(self, app: ASGIApp, scope: dict[str, Any], body: bytes) -> None:
        self.app = app
        self.scope = scope
        self.body = body
        self.body_sent = False
        self.disconnected = asyncio.Event()
        self.started = asyncio.Event()
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: asyncio.Queue[Any] = asyncio.Queue()
        self.task: asyncio.Task[None] | None = None

    async def receive(self) -> Message:
        if not self.body_sent:
            self.body_sent = True
            return {"type": "http.request", "body": self.body, "more_body": False}
        await self.disconnected.wait()
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
            self.started.set()
        elif message["type"] == "http.response.body":
            body = message.get("body", b"")
            if body:
                await self.chunks.put(body)
            if not message.get("more_body", False):
                await self.chunks.put(_END)

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self.receive, self.send)
        finally:
            if not self.started.is_set():
                self.started.set()  # the app ended without answering
            await self.chunks.put(_END)

    async def start(self) -> None:
        """Run the app until it has sent the response head (or failed)."""
        self.task = asyncio.ensure_future(self._run())
        waiter = asyncio.ensure_future(self.started.wait())
        await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done() and self.task.exception() is not None:
            waiter.cancel()
            raise self.task.exception()  # type: ignore[misc]
        await waiter

    async def next_chunk(self) -> bytes | None:
        chunk = await self.chunks.get()
        return None if chunk is _END else chunk

    async def close(self) -> None:
        self.disconnected.set()
        if self.task is not None:
            await self.task


def _scope(
    request: httpx.Request, root_path: str, raise_errors: bool, lifespan: LifespanDriver | None
) -> dict[str, Any]:
    url = request.url
    scheme = url.scheme
    default_port = 443 if scheme == "https" else 80
    raw_path = url.raw_path.split(b"?", 1)[0]
    headers = [(k.lower(), v) for k, v in request.headers.raw]
    if not any(k == b"host" for k, _ in headers):
        headers.insert(0, (b"host", url.netloc))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": request.method,
        "scheme": scheme,
        "path": root_path + unquote(raw_path.decode("latin-1")),
        "raw_path": root_path.encode() + raw_path,
        "root_path": root_path,
        "query_string": url.query,
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": (url.host, url.port or default_port),
        "state": dict(lifespan.state) if lifespan is not None else {},
        "extensions": {},
        RAISE_KEY: raise_errors,
    }


def _response(
    exchange: _Exchange, stream: httpx.SyncByteStream | httpx.AsyncByteStream
) -> httpx.Response:
    return httpx.Response(exchange.status, headers=exchange.headers, stream=stream)


class _AsyncStream(httpx.AsyncByteStream):
    def __init__(self, exchange: _Exchange) -> None:
        self.exchange = exchange

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while (chunk := await self.exchange.next_chunk()) is not None:
            yield chunk

    async def aclose(self) -> None:
        await self.exchange.close()


class _AsyncTransport(httpx.AsyncBaseTransport):
    def __init__(self, client: AsyncTestClient) -> None:
        self.client = client

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        client = self.client
        scope = _scope(request, client.root_path, client.raise_server_exceptions, client._lifespan)
        exchange = _Exchange(client.app, scope, body)
        await exchange.start()
        return _response(exchange, _AsyncStream(exchange))


class _LoopThread:
    """An event loop in a daemon thread; ``run`` submits a coroutine and waits for it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join()
        self.loop.close()


class _SyncStream(httpx.SyncByteStream):
    def __init__(self, exchange: _Exchange, loop: _LoopThread) -> None:
        self.exchange = exchange
        self.loop = loop

    def __iter__(self) -> Iterator[bytes]:
        while (chunk := self.loop.run(self.exchange.next_chunk())) is not None:
            yield chunk

    def close(self) -> None:
        self.loop.run(self.exchange.close())


class _SyncTransport(httpx.BaseTransport):
    def __init__(self, client: TestClient) -> None:
        self.client = client

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        loop = self.client._loop_thread()
        body = request.read()
        client = self.client
        scope = _scope(request, client.root_path, client.raise_server_exceptions, client._lifespan)

        async def begin() -> _Exchange:
            exchange = _Exchange(self.client.app, scope, body)
            await exchange.start()
            return exchange

        exchange = loop.run(begin())
        return _response(exchange, _SyncStream(exchange, loop))


class TestClient(httpx.Client):
    """A synchronous httpx client for ``app``, with no network in between.

    Args:
        app: Any ASGI app; a Carafe app is compiled at once, so setup errors raise here.
        base_url: Where requests appear to go; the host becomes the ``Host`` header.
        raise_server_exceptions: Re-raise an unhandled handler error in the test instead
            of answering 500 (set False to assert on the 500 a client would see).
        root_path: The ASGI ``root_path``, as a proxy mounting the app would set.
        **kwargs: Passed on to ``httpx.Client`` (``headers``, ``cookies``...); redirects
            are followed unless ``follow_redirects=False``.
    """

    __test__ = False  # not a pytest test class

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self._loop: _LoopThread | None = None
        self._lifespan: LifespanDriver | None = None
        _compile(app)
        kwargs.setdefault("follow_redirects", True)
        super().__init__(base_url=base_url, transport=_SyncTransport(self), **kwargs)

    def _loop_thread(self) -> _LoopThread:
        if self._loop is None:
            self._loop = _LoopThread()
        return self._loop

    def __enter__(self) -> TestClient:
        super().__enter__()
        loop = self._loop_thread()

        async def start() -> LifespanDriver:
            driver = LifespanDriver(self.app)
            await driver.startup()
            return driver

        self._lifespan = loop.run(start())
        return self

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the app's event loop and return its result: a test's setup
        that needs the running app's resources (``client.run(seed(app))`` with
        ``db.session(app)``), which belong to that loop."""
        return self._loop_thread().run(coro)

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> WebSocketSession:
        """Open a websocket to the app: ``with client.websocket_connect("/ws") as ws:``.

        See ``AsyncWebSocketSession`` for what entering, receiving and leaving do.
        """
        scope = _websocket_scope(self, url, subprotocols, headers)
        session = AsyncWebSocketSession(self.app, scope, timeout)
        return WebSocketSession(session, self._loop_thread())

    def __exit__(self, *exc_info: Any) -> None:
        try:
            if self._lifespan is not None:
                self._loop_thread().run(self._lifespan.shutdown())
                self._lifespan = None
        finally:
            super().__exit__(*exc_info)
            if self._loop is not None:
                self._loop.stop()
                self._loop = None


class AsyncTestClient(httpx.AsyncClient):
    """The ``httpx.AsyncClient`` twin of ``TestClient``, for async tests.

    ``async with AsyncTestClient(app) as client:`` runs the lifespan on the test's loop.
    """

    __test__ = False

    def __init__(
        self,
        app: ASGIApp,
        base_url: str = "http://testserver",
        *,
        raise_server_exceptions: bool = True,
        root_path: str = "",
        **kwargs: Any,
    ) -> None:
        self.app = app
        self.root_path = root_path
        self.raise_server_exceptions = raise_server_exceptions
        self._lifespan: LifespanDriver | None = None
        _compile(app)
        kwargs.setdefault("follow_redirects", True)
        super().__init__(base_url=base_url, transport=_AsyncTransport(self), **kwargs)

    async def __aenter__(self) -> AsyncTestClient:
        await super().__aenter__()
        self._lifespan = LifespanDriver(self.app)
        await self._lifespan.startup()
        return self

    def websocket_connect(
        self,
        url: str,
        subprotocols: Sequence[str] = (),
        headers: Mapping[str, str] | None = None,
        *,
        timeout: float = 10.0,
    ) -> AsyncWebSocketSession:
        """Open a websocket to the app: ``async with client.websocket_connect("/ws") as ws:``."""
        scope = _websocket_scope(self, url, subprotocols, headers)
        return AsyncWebSocketSession(self.app, scope, timeout)

    async def __aexit__(self, *exc_info: Any) -> None:
        try:
            if self._lifespan is not None:
                await self._lifespan.shutdown()
                self._lifespan = None
        finally:
            await super().__aexit__(*exc_info)


# --- Websockets -----------------------------------------------------------------------


class WebSocketDenied(Exception):
    """The app refused the websocket handshake with an HTTP response (``response``)."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        super().__init__(f"The websocket handshake was refused with {response.status_code}")


_APP_ENDED: Message = {"type": "carafe.testing.app_ended"}


class AsyncWebSocketSession:
    """A websocket to the app, in-process: ``async with client.websocket_connect(url) as ws``.

    Entering performs the handshake: it raises ``WebSocketDisconnect`` if the app
    closes instead of accepting, and ``WebSocketDenied`` if it answers with an HTTP
    response. ``receive_*`` raise ``WebSocketDisconnect`` once the app has closed the
    connection (``close_code``, ``close_reason``), and ``TimeoutError`` if nothing
    arrives within ``timeout`` seconds. Leaving disconnects (code 1000) and waits for
    the app to finish, re-raising what it raised.
    """

    def __init__(self, app: ASGIApp, scope: dict[str, Any], timeout: float) -> None:
        self.app = app
        self.scope = scope
        self.timeout = timeout
        self.subprotocol: str | None = None
        self.headers = httpx.Headers()
        self.close_code: int | None = None
        self.close_reason = ""
        self._to_app: asyncio.Queue[Message] = asyncio.Queue()
        self._from_app: asyncio.Queue[Message] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._done = False

    async def _run(self) -> None:
        try:
            await self.app(self.scope, self._to_app.get, self._from_app.put)
        finally:
            self._from_app.put_nowait(_APP_ENDED)

    async def __aenter__(self) -> AsyncWebSocketSession:
        self._to_app.put_nowait({"type": "websocket.connect"})
        self._task = asyncio.ensure_future(self._run())
        message = await self._next()
        kind = message["type"]
        if kind == "websocket.accept":
            self.subprotocol = message.get("subprotocol")
            self.headers = httpx.Headers(message.get("headers") or [])
            return self
        if kind == "websocket.http.response.start":
            body = b""
            while True:
                part = await self._next()
                body += part.get("body", b"")
                if not part.get("more_body", False):
                    break
            await self._app_result()
            raise WebSocketDenied(
                httpx.Response(message["status"], headers=message.get("headers"), content=body)
            )
        await self._app_result()
        if kind == "websocket.close":
            raise WebSocketDisconnect(message.get("code", 1000), message.get("reason") or "")
        raise RuntimeError(f"The app answered the websocket handshake with {kind!r}")

    async def __aexit__(self, *exc_info: Any) -> None:
        if exc_info[0] is None:
            await self.close()
        else:  # the test's own error matters more than the app's
            with contextlib.suppress(Exception):
                await self.close()

    async def _next(self) -> Message:
        message = await asyncio.wait_for(self._from_app.get(), self.timeout)
        if message is _APP_ENDED:
            self._from_app.put_nowait(_APP_ENDED)  # and it stays ended
            await self._app_result()
        return message

    async def _app_result(self) -> None:
        """Wait for the app to end and re-raise what it raised."""
        self._done = True
        assert self._task is not None
        done, _ = await asyncio.wait({self._task}, timeout=self.timeout)
        if not done:
            self._task.cancel()
            raise TimeoutError(f"The app did not end within {self.timeout}s of the disconnect")
        self._task.result()

    async def receive(self) -> Message:
        """The next ASGI message the app sent (``websocket.send``)."""
        if self.close_code is not None:
            raise WebSocketDisconnect(self.close_code, self.close_reason)
        message = await self._next()
        if message["type"] == "websocket.close":
            self.close_code = message.get("code", 1000)
            self.close_reason = message.get("reason") or ""
            raise WebSocketDisconnect(self.close_code or 1000, self.close_reason)
        if message is _APP_ENDED:
            self.close_code = 1006
            raise WebSocketDisconnect(1006, "The app ended without closing the websocket")
        return message

    async def receive_text(self) -> str:
        return _field(await self.receive(), "text")  # type: ignore[no-any-return]

    async def receive_bytes(self) -> bytes:
        return _field(await self.receive(), "bytes")  # type: ignore[no-any-return]

    async def receive_json(self) -> Any:
        message = await self.receive()
        data = message.get("text")
        return msgspec.json.decode(data if data is not None else message.get("bytes") or b"")

    async def send_text(self, data: str) -> None:
        await self._to_app.put({"type": "websocket.receive", "text": data})

    async def send_bytes(self, data: bytes) -> None:
        await self._to_app.put({"type": "websocket.receive", "bytes": data})

    async def send_json(self, data: Any, *, binary: bool = False) -> None:
        encoded = encode_json(data)
        if binary:
            await self.send_bytes(encoded)
        else:
            await self.send_text(encoded.decode())

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Disconnect (as a client going away) and wait for the app to finish."""
        if self._done:
            return
        await self._to_app.put({"type": "websocket.disconnect", "code": code, "reason": reason})
        await self._app_result()


def _field(message: Message, name: str) -> Any:
    value = message.get(name)
    if value is None:
        other = "binary" if name == "text" else "text"
        raise AssertionError(f"Expected a {name} message, got {other}: {message!r}")
    return value


class WebSocketSession:
    """``AsyncWebSocketSession`` for ``TestClient``: each call runs on the client's loop."""

    def __init__(self, session: AsyncWebSocketSession, loop: _LoopThread) -> None:
        self.session = session
        self._loop = loop

    def __enter__(self) -> WebSocketSession:
        self._loop.run(self.session.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._loop.run(self.session.__aexit__(*exc_info))

    @property
    def subprotocol(self) -> str | None:
        return self.session.subprotocol

    @property
    def headers(self) -> httpx.Headers:
        return self.session.headers

    @property
    def close_code(self) -> int | None:
        return self.session.close_code

    @property
    def close_reason(self) -> str:
        return self.session.close_reason

    def receive(self) -> Message:
        return self._loop.run(self.session.receive())

    def receive_text(self) -> str:
        return self._loop.run(self.session.receive_text())

    def receive_bytes(self) -> bytes:
        return self._loop.run(self.session.receive_bytes())

    def receive_json(self) -> Any:
        return self._loop.run(self.session.receive_json())

    def send_text(self, data: str) -> None:
        self._loop.run(self.session.send_text(data))

    def send_bytes(self, data: bytes) -> None:
        self._loop.run(self.session.send_bytes(data))

    def send_json(self, data: Any, *, binary: bool = False) -> None:
        self._loop.run(self.session.send_json(data, binary=binary))

    def close(self, code: int = 1000, reason: str = "") -> None:
        self._loop.run(self.session.close(code, reason))


def _websocket_scope(
    client: TestClient | AsyncTestClient,
    url: str,
    subprotocols: Sequence[str],
    headers: Mapping[str, str] | None,
) -> dict[str, Any]:
    request = client.build_request("GET", url, headers=headers)
    scope = _scope(request, client.root_path, client.raise_server_exceptions, client._lifespan)
    del scope["method"]
    scope["type"] = "websocket"
    scope["scheme"] = "wss" if request.url.scheme == "https" else "ws"
    scope["subprotocols"] = list(subprotocols)
    scope["extensions"] = {"websocket.http.response": {}}
    scope["headers"] += [
        (b"connection", b"upgrade"),
        (b"upgrade", b"websocket"),
        (b"sec-websocket-version", b"13"),
        (b"sec-websocket-key", b"dGhlIHNhbXBsZSBub25jZQ=="),
    ]
    if subprotocols:
        scope["headers"].append((b"sec-websocket-protocol", ", ".join(subprotocols).encode()))
    return scope


def _compile(app: ASGIApp) -> None:
    compile_app = getattr(app, "compile", None)
    if callable(compile_app):
        compile_app()
