"""The response family. Each response is an ASGI callable: ``await response(scope, receive, send)``.

Response                 bytes or str with a media type
 ├── JSONResponse        any JSON-able value, encoded once with msgspec
 │    └── ProblemResponse   RFC 9457 application/problem+json
 ├── HTMLResponse        text/html; charset=utf-8
 ├── PlainTextResponse   text/plain; charset=utf-8
 ├── RedirectResponse    to a URL: 303 after a POST, 307 after a GET, unless told
 ├── StreamingResponse   a sync or async iterator of chunks
 └── FileResponse        a file from disk: Range, ETag, Last-Modified, 304 (carafe._files)
"""

from __future__ import annotations

import asyncio
import functools
import http.cookies
import re
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from urllib.parse import quote

from carafe._concurrency import iterate_in_threadpool
from carafe._core.codecs import encode_json
from carafe.datastructures import MutableHeaders

if TYPE_CHECKING:
    from carafe._files import FileResponse
    from carafe.exceptions import HTTPError
    from carafe.types import Receive, Scope, Send

__all__ = [
    "FileResponse",
    "HTMLResponse",
    "JSONResponse",
    "PlainTextResponse",
    "ProblemResponse",
    "RedirectResponse",
    "Response",
    "StreamingResponse",
]

BackgroundCallable = Callable[[], Awaitable[None]]
_NO_BODY_STATUSES = frozenset({204, 304})
_NO_NAMES: frozenset[bytes] = frozenset()
_SAMESITE = frozenset({"lax", "strict", "none"})
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})  # RFC 9110 section 9.2.1
# RFC 6265 cookie-octets that quote() would encode; "%" is left out so it round-trips.
_COOKIE_SAFE = "!#$&'()*+/:<=>?@[]^`{|}"
# RFC 6265's av-octet: visible ASCII and space, but ";". Anything else is sent as it is by
# http.cookies (unquoted, unchecked), and may end the attribute or reach the client mangled.
_ATTRIBUTE_BREAK = re.compile(r"[^\x20-\x3a\x3c-\x7e]")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: a cookie's name
_DOMAIN = re.compile(r"\.?[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.?")


def _check_attributes(key: str, path: str, domain: str | None, expires: object) -> None:
    """Refuse a cookie name or attribute that would not reach the browser as written.

    ``path="/; Domain=evil"`` would add an attribute; a control character or a non-ASCII
    ``Domain`` would be sent as it is, unquoted.
    """
    if _TOKEN.fullmatch(key) is None:
        raise ValueError(f"{key!r} is not a valid cookie name (RFC 6265 token characters)")
    for name, value in (("path", path), ("expires", expires)):
        if isinstance(value, str) and _ATTRIBUTE_BREAK.search(value):
            raise ValueError(
                f"The cookie's {name} cannot contain ';', control or non-ASCII characters"
            )
    if domain is not None and _DOMAIN.fullmatch(domain) is None:
        raise ValueError(
            f"The cookie's domain {domain!r} is not a host name: no ';', spaces or control "
            "characters, and a non-ASCII name in its IDNA form (domain.encode('idna'))"
        )


@functools.lru_cache(maxsize=512)
def _content_type(media_type: str | None, charset: str) -> bytes | None:
    if media_type is None:
        return None
    if media_type.startswith("text/") and "charset=" not in media_type:
        media_type = f"{media_type}; charset={charset}"
    return media_type.encode("latin-1")


class Response:
    """A response with a body known up front.

    Args:
        content: ``bytes`` are sent as they are, ``str`` encoded as UTF-8.
        status_code: The HTTP status.
        headers: Extra headers; ``Content-Length`` and ``Content-Type`` are set for you.
        media_type: The ``Content-Type``; ``text/*`` types get ``; charset=utf-8``.
        background: An async callable run after the response is sent.
    """

    media_type: ClassVar[str | None] = None
    charset: ClassVar[str] = "utf-8"

    def __init__(
        self,
        content: Any = b"",
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = background
        self.body = self.render(content)
        length = (
            len(self.body) if status_code not in _NO_BODY_STATUSES and status_code >= 200 else None
        )
        self.raw_headers = self._initial_headers(headers, media_type, length)

    def _initial_headers(
        self, headers: Mapping[str, str] | None, media_type: str | None, length: int | None
    ) -> list[tuple[bytes, bytes]]:
        """``headers`` as raw pairs, plus ``Content-Type`` and ``Content-Length`` unless given."""
        if not headers:
            # PERF: the common case builds two pairs and no set of given names
            # (bench/inprocess.py, plaintext: building PlainTextResponse 1.15 -> 0.70 µs).
            content_type = _content_type(media_type or self.media_type, self.charset)
            pairs = [] if content_type is None else [(b"content-type", content_type)]
            if length is not None:
                pairs.append((b"content-length", str(length).encode("latin-1")))
            return pairs
        raw = [
            (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()
        ]
        given = {name for name, _ in raw} if raw else _NO_NAMES
        content_type = _content_type(media_type or self.media_type, self.charset)
        if content_type is not None and b"content-type" not in given:
            raw.append((b"content-type", content_type))
        if length is not None and b"content-length" not in given:
            raw.append((b"content-length", str(length).encode("latin-1")))
        return raw

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode(self.charset)
        if isinstance(content, (bytearray, memoryview)):
            return bytes(content)
        raise TypeError(f"{type(self).__name__} cannot send a {type(content).__name__}")

    @property
    def headers(self) -> MutableHeaders:
        """The headers to be sent, editable in place."""
        return MutableHeaders(self.raw_headers)

    def set_cookie(
        self,
        key: str,
        value: str = "",
        *,
        max_age: int | None = None,
        expires: datetime | str | int | None = None,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
        partitioned: bool = False,
    ) -> None:
        """Set a cookie. ``HttpOnly`` and ``SameSite=Lax`` unless you say otherwise.

        ``samesite="none"`` requires ``secure=True``, as browsers do. The value is
        percent-encoded where a cookie cannot carry it as is (spaces, ``;``, ``,``,
        ``"``, ``\\``, ``%``, non-ASCII), which ``request.cookies`` decodes: any string
        comes back as it was set.
        """
        site = samesite.lower() if samesite is not None else None
        if site is not None and site not in _SAMESITE:
            raise ValueError(f"samesite must be 'lax', 'strict', 'none' or None, not {samesite!r}")
        if site == "none" and not secure:
            raise ValueError("SameSite=None cookies must also be Secure")
        _check_attributes(key, path, domain, expires)
        morsel: http.cookies.Morsel[str] = http.cookies.Morsel()
        try:
            morsel.set(key, value, quote(value, safe=_COOKIE_SAFE))
        except http.cookies.CookieError as exc:  # a name like "path", which Morsel reserves
            raise ValueError(f"{key!r} cannot be a cookie name here: {exc}") from None
        morsel["path"] = path
        if max_age is not None:
            morsel["max-age"] = max_age
        if expires is not None:
            morsel["expires"] = (
                format_datetime(expires, usegmt=True) if isinstance(expires, datetime) else expires
            )
        if domain is not None:
            morsel["domain"] = domain
        if secure:
            morsel["secure"] = True
        if httponly:
            morsel["httponly"] = True
        if site is not None:
            morsel["samesite"] = site.capitalize()
        text = morsel.OutputString()
        if partitioned:
            text += "; Partitioned"
        self.raw_headers.append((b"set-cookie", text.encode("latin-1")))

    def delete_cookie(
        self,
        key: str,
        *,
        path: str = "/",
        domain: str | None = None,
        secure: bool = False,
        httponly: bool = True,
        samesite: Literal["lax", "strict", "none"] | None = "lax",
    ) -> None:
        """Expire a cookie; ``path`` and ``domain`` must match the ones it was set with."""
        self.set_cookie(
            key,
            max_age=0,
            expires="Thu, 01 Jan 1970 00:00:00 GMT",
            path=path,
            domain=domain,
            secure=secure,
            httponly=httponly,
            samesite=samesite,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        await send({"type": "http.response.body", "body": self.body})
        if self.background is not None:
            await self.background()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.status_code}>"


class JSONResponse(Response):
    """Any JSON-able value (dicts, lists, msgspec Structs, dataclasses, pydantic models)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return encode_json(content)


class ProblemResponse(JSONResponse):
    """An RFC 9457 problem document."""

    media_type = "application/problem+json"

    @classmethod
    def from_error(cls, error: HTTPError) -> ProblemResponse:
        """The problem document of ``error``, with its status and headers."""
        return cls(error.problem(), status_code=error.status_code, headers=error.headers)


class HTMLResponse(Response):
    """HTML: ``HTMLResponse("<h1>Hi</h1>")`` is sent as ``text/html; charset=utf-8``."""

    media_type = "text/html"


class PlainTextResponse(Response):
    """Text: ``PlainTextResponse("ok")`` is sent as ``text/plain; charset=utf-8``."""

    media_type = "text/plain"


class RedirectResponse(Response):
    """Redirect to ``url``.

    Without a ``status_code`` the status is decided when the response is sent: 303 (See
    Other) after a POST, PUT, PATCH or DELETE, so that the browser follows with a GET
    and never sends the body again (post/redirect/get), and 307 after GET, HEAD or
    OPTIONS, which keeps the method. Until then ``status_code`` reads 307. Pass a
    status to choose it yourself: 307 or 308 to repeat the request as it was, 301 or
    308 for a move that browsers may remember.

    ::

        @app.post("/items")
        async def create(item: Item) -> RedirectResponse:
            return RedirectResponse("/items")  # 303: the browser GETs /items
    """

    def __init__(
        self,
        url: str,
        status_code: int | None = None,
        headers: Mapping[str, str] | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        super().__init__(
            b"", 307 if status_code is None else status_code, headers, background=background
        )
        self.status_chosen = status_code is not None
        location = quote(str(url), safe=":/%#?=@[]!$&'()*+,;")
        self.raw_headers.append((b"location", location.encode("latin-1")))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = self.status_code
        if not self.status_chosen and scope.get("method", "GET") not in _SAFE_METHODS:
            status = 303
        await send({"type": "http.response.start", "status": status, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body})
        if self.background is not None:
            await self.background()


ContentStream = AsyncIterable[str | bytes] | Iterable[str | bytes]


class StreamingResponse(Response):
    """A body sent chunk by chunk as an iterator yields it, with no ``Content-Length``.

    Sync iterators are advanced in the thread pool. If the client goes away, the
    iterator is closed promptly (its ``finally`` blocks run), sending stops, and
    ``background`` does not run. An error from the iterator once the head is sent can
    only end the connection; the server logs it.

    Args:
        content: An iterable or async iterable of chunks, ``bytes`` or ``str`` (UTF-8).
        status_code: The HTTP status.
        headers: Extra headers; a ``Content-Length`` given here is sent as is.
        media_type: The ``Content-Type``; ``text/*`` types get ``; charset=utf-8``.
        background: An async callable run after the last chunk is sent.

    ::

        async def numbers():
            for n in range(3):
                yield f"{n}\n"

        @app.get("/numbers")
        async def stream() -> StreamingResponse:
            return StreamingResponse(numbers(), media_type="text/plain")
    """

    def __init__(
        self,
        content: ContentStream,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundCallable | None = None,
    ) -> None:
        self.status_code = status_code
        self.background = background
        self.body = b""
        self.raw_headers = self._initial_headers(headers, media_type, None)
        if isinstance(content, AsyncIterable):
            # The iterator itself, so that it can be closed when the client leaves.
            self.body_iterator: AsyncIterator[str | bytes] = aiter(content)
        else:
            self.body_iterator = iterate_in_threadpool(iter(content))

    async def _stream(self, send: Send) -> None:
        await send(
            {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        )
        async for chunk in self.body_iterator:
            data = chunk if isinstance(chunk, bytes) else chunk.encode(self.charset)
            await send({"type": "http.response.body", "body": data, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":
            # The head alone: the iterator is never started, so an endless stream
            # (server-sent events) does not run on for a client that wants no body.
            await Response.__call__(self, scope, receive, send)
            return
        streaming = asyncio.ensure_future(self._stream(send))
        watching = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            done, _ = await asyncio.wait({streaming, watching}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (streaming, watching):
                task.cancel()
            await asyncio.gather(streaming, watching, return_exceptions=True)
            aclose = getattr(self.body_iterator, "aclose", None)
            if aclose is not None:
                await aclose()
        if streaming in done:
            streaming.result()  # re-raise an error from the iterator
            if self.background is not None:
                await self.background()


async def _wait_for_disconnect(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


def __getattr__(name: str) -> Any:
    # NOTE: FileResponse lives in _files.py and subclasses Response, defined above; it is
    # looked up on first use so that neither module imports the other while loading.
    if name == "FileResponse":
        from carafe._files import FileResponse

        return FileResponse
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
