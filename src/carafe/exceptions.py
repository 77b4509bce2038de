"""Carafe's exceptions, one root for all of them.

    CarafeError
     ├── ConfigurationError        a mistake found at startup; never raised per request
     ├── ClientDisconnect          the client went away before the request was read
     ├── URLBuildError             url_path_for() got an unknown name or wrong parameters
     ├── WebSocketDisconnect       the websocket is closed (``code``, ``reason``); a handler
     │                             that lets it escape ends quietly
     ├── BrokerError               pub/sub (carafe.pubsub)
     │    ├── BrokerUnavailable    the broker (Redis) cannot be reached: publish failed;
     │    │                        also an HTTPError (503)
     │    └── SlowSubscriber       a subscriber fell behind; its subscription was ended
     ├── JobError                  the job queue (carafe.jobs); defined there
     │    ├── JobArgumentError     a job's arguments do not fit its task (a TypeError too)
     │    └── JobsUnavailable      Redis cannot be reached; also an HTTPError (503)
     └── HTTPError                 becomes an RFC 9457 problem+json response
          └── RequestValidationError   422, with ``errors: [{loc, msg, type}]``

Configuration errors and HTTP errors never share a branch: catching ``HTTPError``
in a handler never hides a broken route table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, TypedDict


class CarafeError(Exception):
    """The root of every exception Carafe raises."""


class ConfigurationError(CarafeError):
    """The application is set up wrongly: raised at startup, never at request time."""


class ClientDisconnect(CarafeError):
    """The client closed the connection; there is nobody left to answer."""


class URLBuildError(CarafeError, LookupError):
    """No route has that name, or the parameters do not fit its path."""


class WebSocketDisconnect(CarafeError):
    """The websocket is closed, by the peer or by the server (``code``, ``reason``).

    ``receive_*`` and ``send_*`` raise it once the connection is gone; a handler that
    lets it escape ends quietly.
    """

    def __init__(self, code: int = 1000, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(code, reason)


class BrokerError(CarafeError):
    """A pub/sub failure (see ``carafe.pubsub``)."""


class SlowSubscriber(BrokerError):
    """A subscriber's bounded queue overflowed, so its subscription was ended."""


ECHO_LIMIT = 100
"""Characters of the client's input an error message repeats, at most."""
_MESSAGE_LIMIT = 200  # a validation message: our words and, maybe, the client's input


def elide(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text`` cut to ``limit`` characters, ``...`` marking the cut: for repeating what a
    client sent (a path, a header) in an error message without echoing megabytes back.

    >>> elide("/" + "a" * 200)[-6:], len(elide("x" * 200)), elide("short")
    ('aaa...', 103, 'short')
    """
    return text if len(text) <= limit else text[:limit] + "..."


class ErrorDetail(TypedDict):
    """One validation error: where it is, what is wrong, and a stable type."""

    loc: list[str | int]
    msg: str
    type: str


class HTTPError(CarafeError):
    """An error answered with an HTTP status and a problem+json body.

    Args:
        status_code: The HTTP status, 400 to 599.
        detail: A human-readable explanation; defaults to the status phrase.
        headers: Extra response headers, e.g. ``{"WWW-Authenticate": "Bearer"}``.

    ``raise HTTPError(404, "No such item")`` answers::

        {"type": "about:blank", "title": "Not Found", "status": 404,
         "detail": "No such item"}
    """

    def __init__(
        self,
        status_code: int,
        detail: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.status_code = status_code
        self.title = _phrase(status_code)
        self.detail = detail if detail is not None else self.title
        self.headers = dict(headers) if headers else {}
        super().__init__(status_code, self.detail)

    def problem(self) -> dict[str, Any]:
        """The RFC 9457 problem document for this error."""
        return {
            "type": "about:blank",
            "title": self.title,
            "status": self.status_code,
            "detail": self.detail,
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status_code}, {self.detail!r})"


class BrokerUnavailable(BrokerError, HTTPError):
    """The broker (Redis) cannot be reached; the message was not published.

    It is an ``HTTPError`` too: a handler that lets it escape answers 503 with
    ``Retry-After`` (a websocket closes with 1013, "try again later"). ``str()`` names
    the cause for the log; the client sees only the ``detail``.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        HTTPError.__init__(
            self, 503, "Messages cannot be sent right now; try again shortly.",
            {"Retry-After": "5"},
        )  # fmt: skip

    def __str__(self) -> str:
        return self.reason


class RequestValidationError(HTTPError):
    """The request's parameters or body did not match the handler's types (422)."""

    def __init__(self, errors: Sequence[ErrorDetail], status_code: int = 422) -> None:
        # A decoder's message may quote the input ("Invalid enum value '...'"), and a
        # location may hold a client's key: both are cut short.
        self.errors = [_bounded(error) for error in errors]
        count = len(self.errors)
        summary = "1 validation error" if count == 1 else f"{count} validation errors"
        super().__init__(status_code, f"{summary} in the request")

    def problem(self) -> dict[str, Any]:
        document = super().problem()
        document["errors"] = self.errors
        return document


def _bounded(error: ErrorDetail) -> ErrorDetail:
    msg, loc = error["msg"], error["loc"]
    if len(msg) <= _MESSAGE_LIMIT and all(
        isinstance(part, int) or len(part) <= ECHO_LIMIT for part in loc
    ):
        return error
    return {
        "loc": [part if isinstance(part, int) else elide(part) for part in loc],
        "msg": elide(msg, _MESSAGE_LIMIT),
        "type": error["type"],
    }


def _phrase(status_code: int) -> str:
    try:
        return HTTPStatus(status_code).phrase
    except ValueError:
        return "Error"
