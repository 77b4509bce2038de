"""Streamed event formats: Server-Sent Events (``text/event-stream``) and JSON Lines.

::

    @app.get("/prices")
    async def prices(last_event_id: Annotated[int | None, Header()] = None):
        async def events():
            async for n, price in feed(after=last_event_id):
                yield ServerSentEvent({"price": price}, event="price", id=str(n))
        return EventSourceResponse(events(), ping=15)

An item the iterator yields may be a ``ServerSentEvent``, a ``str`` (the data of an
unnamed event) or any JSON-able value (encoded as JSON data). Browsers reconnect on
their own and send the last ``id`` they saw as ``Last-Event-ID``, which a ``Header()``
parameter reads. When the client goes away the iterator is closed at once (its
``finally`` runs), and yield dependencies of the route stay open until then.

An event stream served by a Carafe app ends when the app is stopping
(``app.stopping``, see ``carafe._stopping``): the source iterator is closed, the stream
ends cleanly, and browsers reconnect (to another worker) with ``Last-Event-ID``.

``JSONLinesResponse`` streams one JSON document per line (``application/x-ndjson``).
It does not end on ``app.stopping``: a JSON Lines stream has no way to say "resume
here", so cutting it short would hand the client a truncated document that looks
complete. It gets the server's graceful timeout to finish.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Mapping
from typing import Any

from carafe._concurrency import iterate_in_threadpool
from carafe._core.codecs import encode_json
from carafe._stopping import Stopping
from carafe.responses import BackgroundCallable, StreamingResponse
from carafe.types import Receive, Scope, Send

__all__ = ["EventSourceResponse", "JSONLinesResponse", "ServerSentEvent"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")  # the only line ends the SSE grammar knows
_END = object()


class ServerSentEvent:
    """One event of an event stream.

    Args:
        data: A ``str`` is sent as it is (split into one ``data:`` line per line);
            anything else is encoded as JSON. ``None`` sends no data field.
        event: The event type (the browser's ``addEventListener`` name).
        id: The event id; the browser sends the last one back as ``Last-Event-ID``.
        retry: How long the browser waits before reconnecting, in milliseconds.
        comment: A comment line, ignored by browsers (keep-alives are comments).

    >>> ServerSentEvent("a\\nb", event="note", id="7").encode()
    b'event: note\\nid: 7\\ndata: a\\ndata: b\\n\\n'
    """

    __slots__ = ("comment", "data", "event", "id", "retry")

    def __init__(
        self,
        data: Any = None,
        *,
        event: str | None = None,
        id: str | None = None,
        retry: int | None = None,
        comment: str | None = None,
    ) -> None:
        if event is not None and _LINE_BREAK.search(event):
            raise ValueError("An event name cannot contain a line break")
        if id is not None and (_LINE_BREAK.search(id) or "\0" in id):
            raise ValueError("An event id cannot contain a line break or NUL")
        if retry is not None and retry < 0:
            raise ValueError("retry must be a non-negative number of milliseconds")
        self.data = data
        self.event = event
        self.id = id
        self.retry = retry
        self.comment = comment

    def encode(self) -> bytes:
        """The event in the wire format, ending with the blank line that dispatches it."""
        lines: list[str] = []
        if self.comment is not None:
            lines.extend(": " + line for line in _LINE_BREAK.split(self.comment))
        if self.event is not None:
            lines.append("event: " + self.event)
        if self.id is not None:
            lines.append("id: " + self.id)
        if self.retry is not None:
            lines.append(f"retry: {self.retry}")
        data = self.data
        if data is not None:
            text = data if isinstance(data, str) else encode_json(data).decode()
            lines.extend("data: " + line for line in _LINE_BREAK.split(text))
        lines.append("\n")
        return "\n".join(lines).encode()

    def __repr__(self) -> str:
        return f"ServerSentEvent({self.data!r}, event={self.event!r}, id={self.id!r})"


def _encode_event(item: Any) -> bytes:
    if isinstance(item, ServerSentEvent):
        return item.encode()
    return ServerSentEvent(item).encode()


async def _next_item(source: AsyncIterator[Any]) -> Any:
    try:
        return await anext(source)
    except StopAsyncIteration:
        return _END


async def _watched(
    source: AsyncIterator[Any], ping: float | None, comment: bytes, stopping: Stopping | None
) -> AsyncIterator[bytes]:
    """The encoded events, and ``comment`` whenever ``ping`` seconds pass without one,
    until the source ends or ``stopping`` is set.

    The next item is awaited in a task of its own, so neither a ping nor the app
    stopping interrupts the source iterator in the middle of producing an item.
    """
    pending: asyncio.Task[Any] | None = None
    stop = None if stopping is None else asyncio.ensure_future(stopping.wait())
    waiting: set[asyncio.Future[Any]] = set() if stop is None else {stop}
    try:
        while stopping is None or not stopping.is_set():
            if pending is None:
                pending = asyncio.ensure_future(_next_item(source))
            done, _ = await asyncio.wait(
                waiting | {pending}, timeout=ping, return_when=asyncio.FIRST_COMPLETED
            )
            if pending in done:
                item, pending = pending.result(), None
                if item is _END:
                    return
                yield _encode_event(item)
            elif not done:
                yield comment
    finally:
        for task in (pending, stop):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


async def _plain(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    try:
        async for item in source:
            yield _encode_event(item)
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


def _as_async(content: AsyncIterable[Any] | Iterable[Any]) -> AsyncIterator[Any]:
    if isinstance(content, AsyncIterable):
        return aiter(content)
    return iterate_in_threadpool(iter(content))


class EventSourceResponse(StreamingResponse):
    """A ``text/event-stream`` response fed by a sync or async iterator of events.

    Args:
        content: Yields ``ServerSentEvent``s, strings or JSON-able values.
        status_code: The HTTP status.
        headers: Extra headers (``Cache-Control: no-store`` and ``X-Accel-Buffering:
            no``, which stops nginx from buffering the stream, are set for you).
        ping: Seconds without an event after which a keep-alive comment is sent, so
            proxies do not drop an idle stream; ``None`` sends none.
        ping_comment: The text of the keep-alive comment.
        background: An async callable run after the stream ends.
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        ping: float | None = 15.0,
        ping_comment: str = "ping",
        background: BackgroundCallable | None = None,
    ) -> None:
        if ping is not None and ping <= 0:
            raise ValueError("ping must be a positive number of seconds, or None")
        self._source = _as_async(content)
        self._ping = ping
        self._ping_comment = ServerSentEvent(comment=ping_comment).encode()
        merged = {"cache-control": "no-store", "x-accel-buffering": "no"}
        merged.update({key.lower(): value for key, value in (headers or {}).items()})
        super().__init__(self._events(None), status_code, merged, background=background)

    def _events(self, stopping: Stopping | None) -> AsyncIterator[bytes]:
        if self._ping is None and stopping is None:
            return _plain(self._source)  # PERF: no task per event when nothing interrupts
        return _watched(self._source, self._ping, self._ping_comment, stopping)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stopping = getattr(scope.get("app"), "stopping", None)
        if isinstance(stopping, Stopping):
            # Served by a Carafe app: end with it. The iterator made in __init__ was
            # never started, so it holds nothing to release.
            self.body_iterator = self._events(stopping)
        await super().__call__(scope, receive, send)


async def _json_lines(source: AsyncIterator[Any]) -> AsyncIterator[bytes]:
    try:
        async for item in source:
            yield encode_json(item) + b"\n"
    finally:
        aclose = getattr(source, "aclose", None)
        if aclose is not None:
            await aclose()


class JSONLinesResponse(StreamingResponse):
    """One JSON document per line (``application/x-ndjson``), as an iterator yields them.

    Args:
        content: A sync or async iterator of JSON-able values (models included).
        status_code: The HTTP status.
        headers: Extra headers.
        background: An async callable run after the stream ends.
    """

    media_type = "application/x-ndjson"

    def __init__(
        self,
        content: AsyncIterable[Any] | Iterable[Any],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        *,
        background: BackgroundCallable | None = None,
    ) -> None:
        super().__init__(
            _json_lines(_as_async(content)), status_code, headers, background=background
        )
