"""``GZipMiddleware``: compress response bodies for clients that accept gzip.

    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)

A response is compressed when the request's ``Accept-Encoding`` allows gzip, the body
is at least ``minimum_size`` bytes (a streamed body always is), and the response is not
already encoded, partial (206), marked ``Cache-Control: no-transform``, or of a media
type that gains nothing (``text/event-stream``, images, audio, video, archives).
Compressed responses carry ``Content-Encoding: gzip`` and ``Vary: Accept-Encoding``;
``Content-Length`` is the compressed size, and a strong ``ETag`` becomes weak, since
the bytes differ from the uncompressed representation.

Streams (``more_body``) are compressed chunk by chunk and each chunk is flushed, so a
client sees data as soon as the app sends it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

from carafe._concurrency import run_sync
from carafe.middleware._headers import Header, add_vary, get_header, replace_header
from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["DEFAULT_EXCLUDED", "GZipMiddleware", "accepts_gzip"]

DEFAULT_EXCLUDED = (
    "text/event-stream",
    "image/",
    "audio/",
    "video/",
    "application/zip",
    "application/gzip",
    "application/x-gzip",
    "font/woff2",
)
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib writes a gzip header and trailer
_NO_BODY = frozenset({204, 206, 304})
_CACHE_SIZE = 256
_OFFLOAD_SIZE = 256 * 1024  # bodies this big are compressed in the thread pool
_accepted: dict[bytes, bool] = {}  # Accept-Encoding value -> accepts gzip


def accepts_gzip(header: bytes) -> bool:
    """Whether an ``Accept-Encoding`` value allows gzip.

    >>> accepts_gzip(b"br, gzip;q=0.8"), accepts_gzip(b"gzip;q=0"), accepts_gzip(b"*")
    (True, False, True)
    """
    star = False
    for item in header.lower().split(b","):
        coding, _, params = item.partition(b";")
        coding = coding.strip()
        if coding not in (b"gzip", b"x-gzip", b"*"):
            continue
        refused = False
        for param in params.split(b";"):
            name, _, value = param.partition(b"=")
            if name.strip() == b"q":
                try:
                    refused = float(value.strip() or b"1") <= 0
                except ValueError:
                    refused = True
        if coding == b"*":
            star = not refused
        else:
            return not refused
    return star


class GZipMiddleware:
    """Gzip response bodies on the fly.

    Args:
        app: The ASGI app to wrap.
        minimum_size: Bodies sent in one piece smaller than this stay uncompressed.
        compresslevel: zlib's level, 1 (fastest) to 9 (smallest).
        exclude_media_types: Content types (or prefixes ending in ``/``) never
            compressed; the default covers streams and already-compressed formats.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        minimum_size: int = 500,
        compresslevel: int = 6,
        exclude_media_types: Sequence[str] = DEFAULT_EXCLUDED,
    ) -> None:
        if not 1 <= compresslevel <= 9:
            raise ValueError("compresslevel must be between 1 and 9")
        self.app = app
        self.minimum_size = minimum_size
        self.compresslevel = compresslevel
        self.excluded = tuple(t.lower().encode("latin-1") for t in exclude_media_types)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for key, value in scope["headers"]:
                if key == b"accept-encoding":
                    # PERF: clients send a handful of distinct values; parse each once
                    # (0.4 µs a parse; bench/middleware.py, "GZip, body under minimum").
                    accepted = _accepted.get(value)
                    if accepted is None:
                        accepted = accepts_gzip(value)
                        if len(_accepted) < _CACHE_SIZE:
                            _accepted[value] = accepted
                    if accepted:
                        await self.app(scope, receive, _Compressor(self, send).send)
                        return
                    break
        await self.app(scope, receive, send)

    def wants(self, headers: list[Header], status: int) -> bool:
        """Whether a response with this head may be compressed at all."""
        if status < 200 or status in _NO_BODY:
            return False
        # PERF: one pass over the headers; a lookup per header name took 1.65 µs, this 0.29.
        for key, value in headers:
            name = key.lower()
            if name == b"content-type":
                if value.lower().startswith(self.excluded):
                    return False
            elif name == b"content-encoding" or (
                name == b"cache-control" and b"no-transform" in value.lower()
            ):
                return False
        return True


def _deflate(compressor: zlib._Compress, body: bytes, mode: int) -> bytes:
    return compressor.compress(body) + compressor.flush(mode)


class _Compressor:
    """One response: holds the head back until the first body chunk decides."""

    __slots__ = ("compressor", "middleware", "mode", "send_next", "start")

    def __init__(self, middleware: GZipMiddleware, send: Send) -> None:
        self.middleware = middleware
        self.send_next = send
        self.start: Message | None = None
        self.mode = "undecided"  # then "plain" or "gzip"
        self.compressor: zlib._Compress | None = None

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            headers = list(message.get("headers", ()))
            if self.middleware.wants(headers, message["status"]):
                message["headers"] = headers
                self.start = message
                return
            self.mode = "plain"
        elif self.mode == "undecided":
            if kind == "http.response.body":
                await self._first_body(message)
                return
            await self._flush_start("plain")  # e.g. http.response.pathsend: send as is
        elif self.mode == "gzip" and kind == "http.response.body":
            message = await self._compress(message)
        await self.send_next(message)

    async def _first_body(self, message: Message) -> None:
        body: bytes = message.get("body", b"")
        streaming = message.get("more_body", False)
        if not streaming and len(body) < self.middleware.minimum_size:
            await self._flush_start("plain")
            await self.send_next(message)
            return
        self.compressor = zlib.compressobj(
            self.middleware.compresslevel, zlib.DEFLATED, _GZIP_WBITS
        )
        message = await self._compress(message)
        length = None if streaming else str(len(message["body"])).encode()
        await self._flush_start("gzip", length)
        await self.send_next(message)

    async def _compress(self, message: Message) -> Message:
        compressor = self.compressor
        assert compressor is not None
        body: bytes = message.get("body", b"")
        # NOTE: a sync flush per chunk costs a little ratio; it lets streams stream.
        mode = zlib.Z_SYNC_FLUSH if message.get("more_body", False) else zlib.Z_FINISH
        if len(body) < _OFFLOAD_SIZE:
            data = compressor.compress(body) + compressor.flush(mode)
        else:  # a big body would hold up the event loop for milliseconds
            data = await run_sync(_deflate, compressor, body, mode)
        return {**message, "body": data}

    async def _flush_start(self, mode: str, length: bytes | None = None) -> None:
        self.mode = mode
        start = self.start
        assert start is not None
        if mode == "gzip":
            headers: list[Header] = start["headers"]
            replace_header(headers, b"content-length", length)
            headers.append((b"content-encoding", b"gzip"))
            add_vary(headers, b"Accept-Encoding")
            etag = get_header(headers, b"etag")
            if etag is not None and not etag.startswith(b"W/"):
                replace_header(headers, b"etag", b"W/" + etag)
        await self.send_next(start)
