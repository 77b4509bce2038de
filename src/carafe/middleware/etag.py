"""``ETagMiddleware``: an ``ETag`` on JSON answers, and ``304 Not Modified`` when it matches.

    app.add_middleware(ETagMiddleware)

A successful ``GET`` whose answer is JSON (``application/json`` or
``application/*+json``) sent in one piece gets a weak ``ETag`` computed from its body. A
client that sends it back in ``If-None-Match`` gets a ``304`` with no body: the handler
still runs (the data may have changed), but the bytes are not sent again. Answers that
carry their own ``ETag`` (files), stream in several pieces, or set ``Cache-Control:
no-store`` are left alone.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from carafe.middleware._headers import get_header

if TYPE_CHECKING:
    from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["ETagMiddleware"]

# What a 304 keeps of the answer's headers (also for ResponseCache's hits).
KEEP_ON_304 = frozenset({b"etag", b"cache-control", b"vary", b"expires", b"content-location"})


def _is_json(content_type: bytes) -> bool:
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


def etag_matches(if_none_match: bytes, etag: bytes) -> bool:
    """RFC 9110 section 13.1.2: weak comparison, ``*`` matches anything."""
    if if_none_match.strip() == b"*":
        return True
    wanted = etag.removeprefix(b"W/")
    return any(tag.strip().removeprefix(b"W/") == wanted for tag in if_none_match.split(b","))


class ETagMiddleware:
    """Tag JSON answers and answer a matching ``If-None-Match`` with 304."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # NOTE: not HEAD: its body is gone before it gets here, so its tag would be wrong.
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = get_header(scope["headers"], b"if-none-match")
        start: Message | None = None

        async def tag(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if message["status"] == 200 and _taggable(message["headers"]):
                    start = message  # held until the body says whether it is one piece
                    return
                await send(message)
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            held, start = start, None
            if message.get("more_body", False):  # a stream: not tagged
                await send(held)
                await send(message)
                return
            digest = hashlib.blake2b(message.get("body", b""), digest_size=16).hexdigest()
            etag = b'W/"' + digest.encode("ascii") + b'"'
            headers = [*held["headers"], (b"etag", etag)]
            if if_none_match is not None and etag_matches(if_none_match, etag):
                kept = [(k, v) for k, v in headers if k in KEEP_ON_304]
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            await send({**held, "headers": headers})
            await send(message)

        await self.app(scope, receive, tag)


def _taggable(headers: list[tuple[bytes, bytes]]) -> bool:
    json = False
    for key, value in headers:
        if key == b"etag" or (key == b"cache-control" and b"no-store" in value.lower()):
            return False
        if key == b"content-type":
            json = _is_json(value)
    return json
