"""uvicorn's httptools protocol with a deadline on the request head (``--header-timeout``).

uvicorn 0.55 bounds only the wait between two requests on a kept-alive connection
(``timeout_keep_alive``, stopped by any byte): a new connection that sends nothing, a
head that arrives a byte at a time (slowloris), or the unread rest of a body after the
response is held for as long as the client likes. This subclass of the protocol
uvicorn picks when httptools is installed (``uvicorn[standard]`` installs it) closes
the connection when one of them lasts ``header_timeout`` seconds (at most half as long
again): the head counts from the connection (the first request) or from its first
byte (a request on a kept-alive connection); bytes that keep coming do not extend it.
If part of a head had arrived, a ``408 Request Timeout`` (``Connection: close``) is
written first; otherwise the connection is closed silently, as uvicorn closes an idle
kept-alive one. While a request is being answered, the clock of the next (pipelined)
head stops: the wait is the app's.

``protocol(seconds)`` is what ``carafe run`` hands to ``uvicorn.run(http=...)``. Under
plain uvicorn, ``--http carafe._protocols:HttpToolsHeadTimeoutProtocol`` gives the
default of 10 seconds.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from carafe._servers import HEADER_TIMEOUT

__all__ = ["HttpToolsHeadTimeoutProtocol", "protocol"]

_FRESH = object()  # a connection that has sent nothing yet
_BODY = b"The request head did not arrive in time.\n"
REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(_BODY), _BODY)
)


class _Deadline:
    """A connection's sweep: its timer, and what it last found waiting for the client."""

    __slots__ = ("seen", "stuck", "timeout", "timer")

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.timer: asyncio.TimerHandle | None = None
        self.stuck: object = _FRESH  # a connection that has sent nothing yet
        self.seen = 1  # in how many sweeps in a row (as if one had seen it at the start)


class HttpToolsHeadTimeoutProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request head must arrive within ``header_timeout``."""

    # PERF: nothing runs per request. A timer per connection looks every half timeout
    # at what uvicorn keeps anyway (a new ``scope`` per head, ``method`` set when the
    # head is complete) and closes what it saw stuck three times in a row. A timer
    # armed and cancelled per head, with two parser callbacks overridden, cost 3.7-4.9
    # us per kept-alive request in bench/protocol.py (uvicorn's own: about 36 us).
    # The state is one attribute: uvicorn's protocol has 28, and past 30 CPython
    # stops sharing the instance dict's keys, which slowed every attribute uvicorn
    # reads per request (0.6-1.2 us with four attributes of our own).

    def __init__(self, *args: Any, header_timeout: float = HEADER_TIMEOUT, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = _Deadline(header_timeout)

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        deadline = self.deadline
        deadline.timer = self.loop.call_later(deadline.timeout / 2, self._sweep)

    def connection_lost(self, exc: Exception | None) -> None:
        deadline = self.deadline
        if deadline.timer is not None:
            deadline.timer.cancel()
            deadline.timer = None
        super().connection_lost(exc)

    def _waiting_on(self) -> object:
        """What the connection waits for the client to finish, or None."""
        scope = self.scope
        if scope is None:  # not a byte of a head yet
            return _FRESH if self.deadline.stuck is _FRESH else None
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            return None  # a request is being answered: the wait is the app's, not the client's
        if "method" not in scope:  # a head in progress (uvicorn adds method when complete)
            return scope
        if cycle is not None and cycle.more_body:
            return cycle  # answered; the rest of its body is still to come
        return None

    def _sweep(self) -> None:
        deadline = self.deadline
        deadline.timer = None
        transport = self.transport
        if transport.is_closing() or transport.get_protocol() is not self:
            return  # closed, or upgraded to a websocket
        waiting = self._waiting_on()
        # The first head counts from the connection: no head is complete (no cycle) yet.
        first_head = deadline.stuck is _FRESH and self.cycle is None
        if waiting is not None and (waiting is deadline.stuck or first_head):
            deadline.seen += 1
        else:
            deadline.seen = 1
        deadline.stuck = waiting
        # Seen at three sweeps half a timeout apart: stuck for 1 to 1.5 timeouts.
        if waiting is not None and deadline.seen >= 3:
            if waiting is self.scope:
                transport.write(REQUEST_TIMEOUT)
            transport.close()
            return
        deadline.timer = self.loop.call_later(deadline.timeout / 2, self._sweep)


def protocol(header_timeout: float = HEADER_TIMEOUT) -> Any:
    """The HTTP protocol factory for ``uvicorn.run(http=...)``: httptools, as uvicorn's
    ``auto`` picks it (``uvicorn[standard]`` installs it), with ``header_timeout`` bound.

    A ``functools.partial`` of a module-level class: uvicorn pickles its config for the
    worker and reload processes, and calls the factory as it would the class.
    """
    return functools.partial(HttpToolsHeadTimeoutProtocol, header_timeout=header_timeout)
