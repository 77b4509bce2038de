"""uvicorn's httptools protocol with a deadline on the request head (``--header-timeout``).

uvicorn 0.55 bounds only the wait between two requests on a kept-alive connection
(``timeout_keep_alive``, stopped by any byte): a new connection that sends nothing, a
head that arrives a byte at a time (slowloris), or the unread rest of a body after the
response is held for as long as the client likes. This subclass of the protocol
uvicorn picks when httptools is installed (``uvicorn[standard]`` installs it) arms one
timer per request head:

- on a new connection, when it is made;
- on a kept-alive connection, at the first byte of the next head (uvicorn's keep-alive
  timer covers the wait before it);
- after a response sent before the request's body was all received: the rest of the
  body and the next head share the deadline;
- cancelled when the head is complete.

When the timer fires, the connection is closed; if part of a head had arrived, a
``408 Request Timeout`` (``Connection: close``) is written first. A connection that is
between requests is closed silently, as uvicorn closes an idle kept-alive one.

``protocol(seconds)`` is what ``carafe run`` hands to ``uvicorn.run(http=...)``. Under
plain uvicorn, ``--http carafe._protocols:HttpToolsHeadTimeoutProtocol`` gives the
default of 10 seconds. The per-request cost is one timer armed and cancelled.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from carafe._servers import HEADER_TIMEOUT

__all__ = ["HttpToolsHeadTimeoutProtocol", "protocol"]

_BODY = b"The request head did not arrive in time.\n"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


class HttpToolsHeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request head must arrive within ``header_timeout``."""

    def __init__(self, *args: Any, header_timeout: float = HEADER_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = header_timeout
        self.head_timer: asyncio.TimerHandle | None = None
        self.head_started = False  # a byte of the current head has arrived

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        # httptools calls this at the first byte of each head; the first head's timer
        # runs from connection_made.
        self.head_started = True
        if self.head_timer is None:
            self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)
        super().on_message_begin()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        cycle = self.cycle
        if cycle.response_complete and cycle.more_body and self.head_timer is None:
            # Answered before its body was read: the rest of the body, then the next
            # head, must arrive in time (uvicorn's keep-alive timer stops at each byte).
            self.head_timer = self.loop.call_later(self.header_timeout, self._head_timed_out)

    def on_headers_complete(self) -> None:
        self.head_started = False
        if self.head_timer is not None:
            self.head_timer.cancel()
            self.head_timer = None
        super().on_headers_complete()

    def _head_timed_out(self) -> None:
        self.head_timer = None
        if self.transport.is_closing():
            return
        if self.head_started:
            self.transport.write(REQUEST_TIMEOUT)
        self.transport.close()


def protocol(header_timeout: float = HEADER_TIMEOUT) -> Any:
    """The HTTP protocol factory for ``uvicorn.run(http=...)``: httptools, as uvicorn's
    ``auto`` picks it (``uvicorn[standard]`` installs it), with ``header_timeout`` bound.

    A ``functools.partial`` of a module-level class: uvicorn pickles its config for the
    worker and reload processes, and calls the factory as it would the class.
    """
    return functools.partial(HttpToolsHeadTimeoutProtocol, header_timeout=header_timeout)
