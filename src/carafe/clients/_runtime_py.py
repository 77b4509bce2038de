"""The fixed part of every generated Python client, copied into it as text.

It is kept as a string, not imported, because the generated module must stand alone:
it imports httpx and msgspec, never carafe.

A client whose API answers ``text/event-stream`` also gets ``EVENTS`` (the event type
and its reader) and the ``_stream`` methods (``STREAM``, ``ASYNC_STREAM``); the others
are left without them. Two decisions there:

- A stream method returns a context manager, not a bare iterator:
  ``with api.comment_events(slug) as events: for event in events: ...``. The request
  is sent on entering, so an error status raises ``APIError`` there, like any other
  method's, and the caller knows the stream is open; leaving the block closes the
  connection however early. An async generator broken out of is only closed when the
  garbage collector gets to it, so a bare async iterator would hold its connection
  until then (PEP 533's gap); the sync method is the same shape, so the two read alike.
- The parser is ours (``_EventParser``, some forty lines) rather than ``httpx-sse``:
  the generated module keeps needing httpx and msgspec only. httpx has no SSE reader,
  and its ``iter_lines`` splits where ``str.splitlines`` does (form feed, U+2028...),
  while an event stream's lines end at CR, LF or CRLF only; so the parser splits the
  bytes itself and decodes each line as UTF-8, as the standard says.
"""

from __future__ import annotations

__all__ = ["ASYNC_STREAM", "EVENTS", "HEADER", "RUNTIME", "STREAM"]

HEADER = """\
from __future__ import annotations

{imports}from collections.abc import {abc}
from typing import Any, Generic, {literal}Self, TypeVar
from urllib.parse import quote

import httpx
import msgspec

"""

RUNTIME = '''
# --- What every operation shares ---------------------------------------------------

_T = TypeVar("_T")
File = bytes | tuple[str, bytes] | tuple[str, bytes, str]
"""An uploaded file: its bytes, or (filename, bytes) or (filename, bytes, content type)."""


class APIError(Exception):
    """The server answered with a status outside 2xx.

    Attributes:
        status: The HTTP status code.
        problem: The decoded body: an instance of the error model the API documents for
            that status (``Problem``, ``ValidationProblem``...), else the plain JSON value,
            else the text.
        response: The ``httpx.Response``.
    """

    def __init__(self, response: httpx.Response, problem: object) -> None:
        self.status = response.status_code
        self.problem = problem
        self.response = response
        title = getattr(problem, "detail", None) or getattr(problem, "title", None)
        if isinstance(problem, dict):
            title = problem.get("detail") or problem.get("title")
        super().__init__(f"{self.status} {title or response.reason_phrase}")


@dataclasses.dataclass(slots=True)
class _Call(Generic[_T]):
    """One request to send and how to read its answer."""

    method: str
    url: str
    kind: str  # "json", "text", "events" or "none"
    result: Any = None
    errors: Mapping[int, Any] = dataclasses.field(default_factory=dict)
    params: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content: bytes | None = None
    data: dict[str, str | list[str]] = dataclasses.field(default_factory=dict)
    files: list[tuple[str, File]] = dataclasses.field(default_factory=list)

    def arguments(self, headers: Mapping[str, str]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "params": self.params,
            "headers": {**headers, **self.headers},
        }
        if self.content is not None:
            arguments["content"] = self.content
            arguments["headers"]["content-type"] = "application/json"
        if self.data:
            arguments["data"] = self.data
        if self.files:
            arguments["files"] = self.files
        return arguments

    def check(self, response: httpx.Response) -> None:
        if not response.is_success:
            raise APIError(response, _problem(response, self.errors.get(response.status_code)))

    def read(self, response: httpx.Response) -> _T:
        self.check(response)
        value: Any = None
        if self.kind == "text":
            value = response.text
        elif self.kind == "json":
            value = msgspec.json.decode(response.content, type=self.result)
        result: _T = value
        return result


def _problem(response: httpx.Response, model: Any) -> object:
    if "json" not in response.headers.get("content-type", ""):
        return response.text
    try:
        return msgspec.json.decode(response.content, type=model or Any)
    except msgspec.DecodeError:
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            return response.text


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _path(value: object) -> str:
    return quote(_text(value), safe="")


def _add(pairs: list[tuple[str, str]], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        pairs.extend((name, _text(item)) for item in value if item is not None)
    elif value is not None:
        pairs.append((name, _text(value)))


def _header(headers: dict[str, str], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        headers[name] = ", ".join(_text(item) for item in value)
    elif value is not None:
        headers[name] = _text(value)


def _cookie(headers: dict[str, str], name: str, value: object) -> None:
    if value is not None:
        pair = f"{name}={quote(_text(value))}"
        headers["cookie"] = f"{headers['cookie']}; {pair}" if "cookie" in headers else pair


def _field(data: dict[str, str | list[str]], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        data[name] = [_text(item) for item in value]
    elif value is not None:
        data[name] = _text(value)


def _file(files: list[tuple[str, File]], name: str, value: File | list[File] | None) -> None:
    if isinstance(value, list):
        files.extend((name, item) for item in value)
    elif value is not None:
        files.append((name, value))
{events}

class Client:
    """A synchronous client: ``Client("http://127.0.0.1:8000")``.

    Args:
        base_url: Where the API is served.
        headers: Sent with every request (``{"Authorization": "Bearer ..."}``).
        http: An ``httpx.Client`` to send through instead of a new one (its own
            ``base_url``, auth and transport are used; it is not closed by ``close()``).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url)
        self.headers = dict(headers or {})
        self._own = http is None

    def close(self) -> None:
        """Close the connections, unless the ``httpx.Client`` was given."""
        if self._own:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, call: _Call[_T]) -> _T:
        response = self.http.request(call.method, call.url, **call.arguments(self.headers))
        return call.read(response)
{client_stream}{client}

class AsyncClient:
    """An asynchronous client: ``async with AsyncClient("http://127.0.0.1:8000") as api:``.

    Args:
        base_url: Where the API is served.
        headers: Sent with every request (``{"Authorization": "Bearer ..."}``).
        http: An ``httpx.AsyncClient`` to send through instead of a new one (it is not
            closed by ``aclose()``).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or httpx.AsyncClient(base_url=base_url)
        self.headers = dict(headers or {})
        self._own = http is None

    async def aclose(self) -> None:
        """Close the connections, unless the ``httpx.AsyncClient`` was given."""
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call[_T]) -> _T:
        response = await self.http.request(call.method, call.url, **call.arguments(self.headers))
        return call.read(response)
{async_stream}{async_client}'''


EVENTS = '''

# --- Server-sent events (text/event-stream) ----------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One event of a ``text/event-stream`` answer, read as the WHATWG HTML standard says.

    Attributes:
        event: The event type: the ``event:`` field, else ``"message"``.
        data: The ``data:`` lines, joined with newlines; ``decode`` reads it as JSON.
        id: The last ``id:`` the stream has sent, with this event or before, else ``""``.
        retry: The last reconnection time the stream asked for, in milliseconds, else None.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None

    def decode(self, model: type[_T]) -> _T:
        """``data`` as JSON, decoded into ``model`` (a model of this module, ``dict``...)."""
        return msgspec.json.decode(self.data, type=model)


EventStream = contextlib.AbstractContextManager[Iterator[ServerSentEvent]]
"""What a ``Client`` method answering server-sent events returns.

``with api.some_events(...) as events:`` sends the request (an error status raises
``APIError`` there), ``for event in events:`` reads the events as they come, and leaving
the block closes the connection, whether the stream has ended or not.
"""

AsyncEventStream = contextlib.AbstractAsyncContextManager[AsyncIterator[ServerSentEvent]]
"""The same for ``AsyncClient``: ``async with ... as events: async for event in events:``."""


class _EventParser:
    """The bytes of an event stream in, its events out (WHATWG HTML, "Server-sent events").

    Lines end at CRLF, LF or CR, nowhere else; a line starting with ``:`` is a comment;
    ``name: value`` sets a field (one space after the colon is dropped), a line with no
    colon is a field with an empty value; a blank line dispatches the event, if it has
    data. An event the stream ends in the middle of is dropped.
    """

    def __init__(self) -> None:
        self._rest = b""  # the unfinished line
        self._first = True  # the stream may start with a byte order mark
        self._data: list[str] = []
        self._event = ""
        self._id = ""
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The events ``chunk`` completes."""
        buffer = self._rest + chunk
        end = len(buffer) - 1 if buffer.endswith(b"\\r") else len(buffer)  # maybe a CRLF
        lines = buffer[:end].replace(b"\\r\\n", b"\\n").replace(b"\\r", b"\\n").split(b"\\n")
        self._rest = lines.pop() + buffer[end:]
        events = [self._line(line) for line in lines]
        return [event for event in events if event is not None]

    def end(self) -> list[ServerSentEvent]:
        """The event a last CR completes, once the stream is over."""
        return self.feed(b"\\n") if self._rest.endswith(b"\\r") else []

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        line = raw.decode("utf-8", "replace")
        if self._first:
            line, self._first = line.removeprefix("\\ufeff"), False
        if not line:
            return self._dispatch()
        name, _, value = line.partition(":")  # a comment's name is ""
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        data, event = self._data, self._event or "message"
        self._data, self._event = [], ""
        if not data:
            return None
        return ServerSentEvent(event, "\\n".join(data), self._id, self._retry)


def _events(response: httpx.Response) -> Generator[ServerSentEvent, None, None]:
    parser = _EventParser()
    for chunk in response.iter_bytes():
        yield from parser.feed(chunk)
    yield from parser.end()


async def _aevents(response: httpx.Response) -> AsyncGenerator[ServerSentEvent, None]:
    parser = _EventParser()
    async for chunk in response.aiter_bytes():
        for event in parser.feed(chunk):
            yield event
    for event in parser.end():
        yield event
'''

STREAM = """
    @contextlib.contextmanager
    def _stream(self, call: _Call[ServerSentEvent]) -> Iterator[Iterator[ServerSentEvent]]:
        arguments = call.arguments({"accept": "text/event-stream", **self.headers})
        with self.http.stream(call.method, call.url, **arguments) as response:
            if not response.is_success:
                response.read()  # the problem document, for APIError
            call.check(response)
            events = _events(response)
            try:
                yield events
            finally:
                events.close()
"""

ASYNC_STREAM = """
    @contextlib.asynccontextmanager
    async def _stream(
        self, call: _Call[ServerSentEvent]
    ) -> AsyncIterator[AsyncIterator[ServerSentEvent]]:
        arguments = call.arguments({"accept": "text/event-stream", **self.headers})
        async with self.http.stream(call.method, call.url, **arguments) as response:
            if not response.is_success:
                await response.aread()  # the problem document, for APIError
            call.check(response)
            events = _aevents(response)
            try:
                yield events
            finally:
                await events.aclose()  # now, not when the garbage collector gets to it
"""
