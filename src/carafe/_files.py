"""``FileResponse``: a file from disk, with validators, conditional requests and ranges.

What a request gets, in the order RFC 9110 section 13.2.2 evaluates it (only for a
response whose status is 200; a custom 404 page is always sent whole):

    If-Match / If-Unmodified-Since fail      -> 412
    If-None-Match / If-Modified-Since match  -> 304 (412 for a method other than GET/HEAD)
    GET with one satisfiable Range           -> 206 + Content-Range (If-Range permitting)
    GET with an unsatisfiable Range          -> 416 + Content-Range: bytes */size
    otherwise                                -> 200, the whole file

A ``Range`` asking for several ranges gets the whole file with 200. RFC 9110 lets a
server ignore ``Range``; doing so here leaves out multipart/byteranges, which browsers
and media players do not need, and the overlapping-ranges amplification attack
(CVE-2011-3192) along with it. A ``Range`` that does not parse is ignored the same way.

The ``ETag`` is strong, built from the modification time (nanoseconds) and the size, so
that ``If-Range`` (which needs a strong validator) can resume downloads.

Every file goes out with ``X-Content-Type-Options: nosniff``, so a browser never runs an
upload as a type other than the one sent. A file a browser would run as a page (HTML,
SVG, any XML) is sent as an attachment unless the caller asks for ``inline``: a
handler that serves back what users uploaded cannot become a cross-site scripting hole
by forgetting to. ``StaticFiles`` serves its directory's pages inline: those are the
site's own.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import mimetypes
import os
import stat
from collections.abc import Iterable, Mapping
from datetime import UTC
from email.utils import formatdate, parsedate_to_datetime
from typing import TYPE_CHECKING, Final
from urllib.parse import quote

from carafe._concurrency import run_sync
from carafe.exceptions import HTTPError
from carafe.responses import (
    BackgroundCallable,
    ProblemResponse,
    Response,
    _wait_for_disconnect,
)

if TYPE_CHECKING:
    from carafe.types import Receive, Scope, Send

__all__ = ["CHUNK_SIZE", "FileResponse", "content_disposition", "guess_media_type", "parse_range"]

CHUNK_SIZE: Final = 64 * 1024
logger = logging.getLogger("carafe")
_OPEN_FLAGS: Final = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)
_BIG: Final = 10**18  # larger than any file; digits beyond this are not worth parsing
_UNSATISFIABLE: Final = (-1, -1)

# Types the standard table lacks or gets wrong for the web (RFC 9239 for JavaScript).
_WEB_TYPES: Final = {
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".css": "text/css",
    ".json": "application/json",
    ".map": "application/json",
    ".wasm": "application/wasm",
    ".svg": "image/svg+xml",
    ".xhtml": "application/xhtml+xml",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".ttf": "font/ttf",
    ".otf": "font/otf",
    ".md": "text/markdown",
    ".webmanifest": "application/manifest+json",
}
_ENCODED_TYPES: Final = {
    "gzip": "application/gzip",
    "bzip2": "application/x-bzip2",
    "xz": "application/x-xz",
    "br": "application/x-brotli",
}
_DEFAULT_TYPE: Final = "application/octet-stream"
# Types a browser renders as a document that can run script in the site's origin: HTML,
# and XML, in which an element of the XHTML namespace is a script (any "+xml" type too:
# SVG, XHTML, Atom, RSS, MathML).
_DOCUMENT_TYPES: Final = frozenset({"text/html", "text/xml", "application/xml"})
_NOSNIFF: Final = (b"x-content-type-options", b"nosniff")


@functools.cache
def _types() -> mimetypes.MimeTypes:
    # NOTE: built on first use, not at import: the first MimeTypes() reads the system's
    # mime.types files, and our overrides make the answers the same on every machine.
    table = mimetypes.MimeTypes()
    for extension, media_type in _WEB_TYPES.items():
        table.add_type(media_type, extension)
    return table


def guess_media_type(path: str) -> str:
    """The ``Content-Type`` for a file name, ``application/octet-stream`` when unknown.

    A compressed file (``app.css.gz``) is its compression format, never the type inside:
    sending it as ``text/css`` without ``Content-Encoding`` would hand the browser bytes
    it cannot read.

    >>> guess_media_type("app.css"), guess_media_type("data.bin")
    ('text/css', 'application/octet-stream')
    """
    media_type, encoding = _types().guess_type(path, strict=False)
    if encoding is not None:
        return _ENCODED_TYPES.get(encoding, _DEFAULT_TYPE)
    return media_type or _DEFAULT_TYPE


def content_disposition(disposition: str, filename: str) -> str:
    """A ``Content-Disposition`` value (RFC 6266): an ASCII ``filename`` for old clients and
    ``filename*`` with the exact UTF-8 name when it is not plain ASCII.

    >>> content_disposition("attachment", "résumé.pdf")
    'attachment; filename="r_sum_.pdf"; filename*=UTF-8\\'\\'r%C3%A9sum%C3%A9.pdf'
    """
    fallback = "".join(ch if " " <= ch <= "~" and ch not in '"\\' else "_" for ch in filename)
    value = f'{disposition}; filename="{fallback}"'
    if fallback != filename:
        value += f"; filename*=UTF-8''{quote(filename, safe='')}"
    return value


def _is_active(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base in _DOCUMENT_TYPES or base.endswith("+xml")


class FileResponse(Response):
    """Send a file from disk in chunks, read in the thread pool.

    Answers ``If-None-Match`` / ``If-Modified-Since`` with 304, ``Range`` with 206 or 416,
    ``If-Match`` / ``If-Unmodified-Since`` with 412, and HEAD with the headers alone.

    Args:
        path: The file to send. A missing or unreadable file is answered with 404.
        status_code: The status; validators and ranges apply only to 200.
        headers: Extra headers (an ``ETag`` or ``Last-Modified`` given here is used as is).
        media_type: The ``Content-Type``; guessed from ``filename`` or ``path`` if None.
        background: An async callable run after the file is sent.
        filename: Adds ``Content-Disposition`` so browsers save the file under this name.
        content_disposition_type: ``"attachment"`` (download) or ``"inline"`` (display).
            By default a file with a ``filename`` is an attachment, and so is one a
            browser would run as a page (``text/html``, XML, any ``+xml`` type: SVG),
            named or not; pass ``"inline"`` to display your own pages.
        stat_result: The file's ``os.stat`` when the caller already has it; the size and
            time sent are then taken from it rather than from the opened file.
        chunk_size: Bytes read and sent at a time.

    ::

        @app.get("/report")
        def report() -> FileResponse:
            return FileResponse("out/report.pdf", filename="Report 2024.pdf")
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
        media_type: str | None = None,
        background: BackgroundCallable | None = None,
        *,
        filename: str | None = None,
        content_disposition_type: str | None = None,
        stat_result: os.stat_result | None = None,
        chunk_size: int = CHUNK_SIZE,
    ) -> None:
        self.path = os.fspath(path)
        self.status_code = status_code
        self.background = background
        self.body = b""
        self.stat_result = stat_result
        self.chunk_size = chunk_size
        if media_type is None:
            media_type = guess_media_type(filename or self.path)
        raw = self._initial_headers(headers, media_type, None)
        names = {name for name, _ in raw}
        disposition = content_disposition_type
        if disposition is None:
            active = filename is not None or _is_active(media_type)
            disposition = "attachment" if active else "inline"
        if b"content-disposition" not in names:
            if filename is not None:
                value = content_disposition(disposition, filename).encode("latin-1")
                raw.append((b"content-disposition", value))
            elif disposition == "attachment":
                raw.append((b"content-disposition", b"attachment"))
        if b"x-content-type-options" not in names:
            raw.append(_NOSNIFF)
        self.raw_headers = raw

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            transfer = await run_sync(self.prepare, scope)
        except HTTPError as error:
            await ProblemResponse.from_error(error)(scope, receive, send)
            return
        await self.send_transfer(transfer, receive, send)

    # --- In the thread pool: open, decide, read the first chunk -------------------

    def prepare(self, scope: Scope) -> _Transfer:
        """Open the file and decide the answer; blocking, so run it in the thread pool.

        A body that fits in one chunk is read here and the file closed, so a small file
        costs one trip to the thread pool.

        Raises:
            HTTPError: 404 when the file is missing, unreadable or not a regular file;
                412 and 416 as the module docstring says.
        """
        try:
            fd = os.open(self.path, _OPEN_FLAGS)
        except (OSError, ValueError) as error:
            # The client learns nothing of the path; the server log names it.
            logger.warning("FileResponse cannot open %r: %s", self.path, error)
            raise HTTPError(404, "The file is not there.") from None
        keep_open = False
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                logger.warning("FileResponse: %r is not a regular file", self.path)
                raise HTTPError(404, "The file is not there.")
            transfer = self._decide(scope, self.stat_result or info)
            if transfer.remaining and not transfer.head_only:
                if transfer.remaining > self.chunk_size and _can_pathsend(scope, transfer, info):
                    transfer.pathsend = os.path.abspath(self.path)
                else:
                    transfer.read_first(fd, self.chunk_size)
                    keep_open = transfer.fd == fd
        finally:
            if not keep_open:
                os.close(fd)
        return transfer

    def _decide(self, scope: Scope, info: os.stat_result) -> _Transfer:
        size = info.st_size
        headers = list(self.raw_headers)  # a copy: one FileResponse may answer many requests
        names = {name for name, _ in headers}
        if b"etag" not in names:
            headers.append((b"etag", f'"{info.st_mtime_ns:x}-{size:x}"'.encode("latin-1")))
        if b"last-modified" not in names:
            headers.append((b"last-modified", formatdate(info.st_mtime, usegmt=True).encode()))
        method = scope.get("method", "GET")
        head_only = method == "HEAD"
        if self.status_code != 200:
            return _Transfer(self.status_code, _with_length(headers, size), 0, size, head_only)
        headers.append((b"accept-ranges", b"bytes"))
        request = _Conditions(scope.get("headers", ()))
        etag = _header(headers, b"etag")
        mtime = _http_date(_header(headers, b"last-modified"))
        status = request.precondition(method, etag, mtime)
        if status == 304:
            kept = [(k, v) for k, v in headers if k not in _NOT_IN_304]
            return _Transfer(304, kept, 0, 0, True)
        if status == 412:
            raise HTTPError(412, "The file does not match the request's preconditions.")
        wanted = request.range
        if method == "GET" and wanted is not None and request.if_range(etag, mtime):
            chosen = parse_range(wanted, size)
            if chosen is _UNSATISFIABLE:
                raise HTTPError(
                    416,
                    "The requested range is not within the file.",
                    {"content-range": f"bytes */{size}"},
                )
            if chosen is not None:
                start, end = chosen
                length = end - start + 1
                headers.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
                return _Transfer(206, _with_length(headers, length), start, length, head_only)
        return _Transfer(200, _with_length(headers, size), 0, size, head_only)

    # --- On the event loop: send -------------------------------------------------

    async def send_transfer(self, transfer: _Transfer, receive: Receive, send: Send) -> None:
        """Send what ``prepare`` decided; the rest of a big file is read chunk by chunk."""
        await send(
            {"type": "http.response.start", "status": transfer.status, "headers": transfer.headers}
        )
        if transfer.pathsend:
            # PERF: the server sends the file itself (granian: no thread-pool trip per chunk).
            await send({"type": "http.response.pathsend", "path": transfer.pathsend})
        elif transfer.fd < 0:
            await send({"type": "http.response.body", "body": transfer.first})
        else:
            await self._send_rest(transfer, receive, send)
        if self.background is not None:
            await self.background()

    async def _send_rest(self, transfer: _Transfer, receive: Receive, send: Send) -> None:
        # NOTE: uvicorn's send() returns silently after a disconnect, so a dropped
        # download would read the whole file; a watcher on receive() stops it. Only files
        # bigger than one chunk get here: small ones pay for no task.
        watcher = asyncio.ensure_future(_wait_for_disconnect(receive))
        try:
            await send({"type": "http.response.body", "body": transfer.first, "more_body": True})
            while transfer.remaining and not watcher.done():
                chunk = await run_sync(transfer.read, self.chunk_size)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            watcher.cancel()
            os.close(transfer.fd)


class _Transfer:
    """What one request gets: status, headers, and where in the file the body is."""

    __slots__ = (
        "fd",
        "first",
        "head_only",
        "headers",
        "offset",
        "pathsend",
        "remaining",
        "status",
    )

    def __init__(
        self,
        status: int,
        headers: list[tuple[bytes, bytes]],
        offset: int,
        length: int,
        head_only: bool,
    ) -> None:
        self.status = status
        self.headers = headers
        self.offset = offset
        self.remaining = length
        self.head_only = head_only
        self.fd = -1
        self.first = b""
        self.pathsend = ""

    def read_first(self, fd: int, chunk_size: int) -> None:
        """Read the first chunk; keep ``fd`` only when more is left to read."""
        self.fd = fd
        os.lseek(fd, self.offset, os.SEEK_SET)
        self.first = self.read(chunk_size)
        if not self.remaining:
            self.fd = -1

    def read(self, chunk_size: int) -> bytes:
        data = os.read(self.fd, min(chunk_size, self.remaining))
        if not data:
            raise RuntimeError("The file shrank while it was being sent")
        self.remaining -= len(data)
        return data


def _can_pathsend(scope: Scope, transfer: _Transfer, info: os.stat_result) -> bool:
    """Whether the server can send the whole file itself (the ASGI pathsend extension)."""
    extensions = scope.get("extensions") or {}
    return "http.response.pathsend" in extensions and transfer.remaining == info.st_size


_CONDITIONAL: Final = frozenset(
    {b"if-match", b"if-none-match", b"if-modified-since", b"if-unmodified-since", b"if-range"}
)
_NOT_IN_304: Final = frozenset({b"content-length", b"content-type", b"content-disposition"})


class _Conditions:
    """The request's conditional headers and ``Range`` (header names are lowercase in ASGI)."""

    __slots__ = ("range", "values")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]]) -> None:
        values: dict[bytes, str] = {}
        wanted: str | None = None
        for key, value in raw:
            if key == b"range":
                # Two Range headers make a list of ranges, which gets the whole file.
                wanted = value.decode("latin-1") if wanted is None else "bytes=0-,0-"
            elif key in _CONDITIONAL:
                text = value.decode("latin-1")
                values[key] = f"{values[key]}, {text}" if key in values else text
        self.values = values
        self.range = wanted

    def precondition(self, method: str, etag: str, mtime: int | None) -> int | None:
        """304 or 412 when a precondition says so, else None (RFC 9110 section 13.2.2)."""
        values = self.values
        if_match = values.get(b"if-match")
        if if_match is not None:
            if not _etag_in(if_match, etag, weak=False):
                return 412
        else:
            since = _http_date(values.get(b"if-unmodified-since"))
            if since is not None and mtime is not None and mtime > since:
                return 412
        if_none_match = values.get(b"if-none-match")
        if if_none_match is not None:
            if _etag_in(if_none_match, etag, weak=True):
                return 304 if method in ("GET", "HEAD") else 412
        elif method in ("GET", "HEAD"):
            since = _http_date(values.get(b"if-modified-since"))
            if since is not None and mtime is not None and mtime <= since:
                return 304
        return None

    def if_range(self, etag: str, mtime: int | None) -> bool:
        """Whether ``Range`` applies: no ``If-Range``, or one naming this very version."""
        value = self.values.get(b"if-range")
        if value is None:
            return True
        value = value.strip()
        if value.startswith(('"', "W/")):
            return value == etag and not etag.startswith("W/")
        date = _http_date(value)
        return date is not None and date == mtime


def _etag_in(header: str, etag: str, *, weak: bool) -> bool:
    """Whether ``etag`` is in an ``If-Match`` / ``If-None-Match`` list (or the list is ``*``)."""
    if header.strip() == "*":
        return True
    if weak:
        etag = etag.removeprefix("W/")
    elif etag.startswith("W/"):
        return False
    for tag in header.split(","):
        candidate = tag.strip()
        if (candidate.removeprefix("W/") if weak else candidate) == etag:
            return True
    return False


def parse_range(value: str, size: int) -> tuple[int, int] | None:
    """The one byte range (first, last; inclusive) a ``Range`` header asks of ``size`` bytes.

    None means "send the whole file" (not bytes, several ranges, or malformed);
    ``_UNSATISFIABLE`` means 416.

    >>> parse_range("bytes=0-99", 1000), parse_range("bytes=-100", 1000)
    ((0, 99), (900, 999))
    """
    unit, equals, spec = value.partition("=")
    if unit.strip().lower() != "bytes" or not equals or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not _digits(last, allow_empty=bool(first)) or not _digits(first, True):
        return None
    if not first:  # the last N bytes
        count = _number(last)
        return (max(size - count, 0), size - 1) if count and size else _UNSATISFIABLE
    start = _number(first)
    end = _number(last) if last else _BIG
    if end < start:
        return None
    if start >= size:
        return _UNSATISFIABLE
    return start, min(end, size - 1)


def _digits(text: str, allow_empty: bool) -> bool:
    return (not text and allow_empty) or (text.isascii() and text.isdigit())


def _number(digits: str) -> int:
    # NOTE: int() of thousands of digits is slow (and refused past 4300); no file is
    # that big, so a long number is just "larger than the file".
    return int(digits) if len(digits) < 18 else _BIG


def _http_date(value: str | None) -> int | None:
    """An HTTP date as a Unix time in whole seconds, None if absent or malformed."""
    if value is None:
        return None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    return next(v for k, v in headers if k == name).decode("latin-1")


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k != b"content-length"]
    kept.append((b"content-length", str(length).encode()))
    return kept
