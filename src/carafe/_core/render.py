"""One rule from what a handler returned to the response on the wire.

``Renderer.render`` is the rule, used by every path (with or without hooks):

    a Response                 sent as it is
    the route's response_class wraps the value (``HTMLResponse`` for a returned str)
    str                        text/plain; charset=utf-8
    bytes, bytearray, memoryview  application/octet-stream
    None, status 204 or 304    no body
    anything else              JSON, encoded once as the declared response type
"""

from __future__ import annotations

import types
import typing
from typing import TYPE_CHECKING, Any

from carafe._core import codecs
from carafe.responses import Response

if TYPE_CHECKING:
    from carafe._core.codecs import CodecPlugin
    from carafe.routing.router import Route
    from carafe.types import Receive, Scope, Send

__all__ = ["Renderer", "Unencodable", "declared_return", "response_annotation"]

_JSON = b"application/json"
_TEXT = b"text/plain; charset=utf-8"
_BINARY = b"application/octet-stream"
_NO_BODY = frozenset({204, 304})
_PLAIN_CALL = Response.__call__


def response_annotation(route: Route) -> Any:
    """The declared response type: ``response_model=``, else the return annotation."""
    if route.response_model is not None:
        return route.response_model
    annotation = declared_return(route)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        # ``-> HTMLResponse | Item``: a Response is sent as it is; the rest is the model.
        arms = tuple(
            arm
            for arm in typing.get_args(annotation)
            if not (isinstance(arm, type) and issubclass(arm, Response))
        )
        annotation = typing.Union[arms] if arms else None  # noqa: UP007
    if annotation is None or annotation is type(None):
        return None
    if isinstance(annotation, type) and issubclass(annotation, Response):
        return None
    return annotation


def declared_return(route: Route) -> Any:
    """The handler's return annotation (the route's declared signature's, for a view)."""
    if route.signature is not None:
        returned = route.signature.return_annotation
        return None if returned is route.signature.empty else returned
    try:
        hints = typing.get_type_hints(route.handler, include_extras=True)
    except (NameError, TypeError):
        return None
    return hints.get("return")


class Unencodable(Exception):
    """The handler's value does not encode as its declared type; nothing was sent yet."""


class Renderer:
    """The rule above for one route, with its encoder chosen at startup."""

    __slots__ = ("encode", "model", "response_class", "status")

    def __init__(self, route: Route, plugins: typing.Sequence[CodecPlugin] | None = None) -> None:
        annotation = response_annotation(route)
        self.encode = (
            codecs.json_encoder(plugins)
            if annotation is None
            else codecs.response_encoder(annotation, plugins)
        )
        self.status = route.status_code or 200
        self.response_class = route.response_class
        # The declared type, when the rule always makes its values JSON: ``send`` skips
        # the rule's checks for them.
        self.model: type | None = None
        if (
            isinstance(annotation, type)
            and self.response_class is None
            and not issubclass(annotation, (str, bytes, bytearray, memoryview, Response))
        ):
            self.model = annotation

    def render(self, result: Any) -> Response | tuple[bytes, bytes | None]:
        """``result`` as a ``Response``, or as ``(body, content type)`` to send with the
        route's status; raises ``Unencodable`` when it does not encode."""
        if isinstance(result, Response):
            return result
        if self.response_class is not None:
            return self.response_class(result, status_code=self.status)
        if isinstance(result, str):
            return result.encode(), _TEXT
        if isinstance(result, (bytes, bytearray, memoryview)):
            return bytes(result), _BINARY
        if result is None and self.status in _NO_BODY:
            return b"", None
        try:
            return self.encode(result), _JSON
        except Exception as exc:
            raise Unencodable from exc

    def to_response(self, result: Any) -> Response:
        """``render``'s answer as a ``Response`` object (for after-request hooks)."""
        rendered = self.render(result)
        if isinstance(rendered, Response):
            return rendered
        body, content_type = rendered
        response = Response(body, self.status)
        if content_type is not None:
            response.raw_headers.insert(0, (b"content-type", content_type))
        return response

    async def send(self, result: Any, scope: Scope, receive: Receive, send: Send) -> None:
        """Send ``result`` by the rule."""
        # PERF: dicts, lists and values of the declared model skip the rule's isinstance
        # checks (POST /items: 4.7 -> 4.5 µs), and a plain Response is sent here without
        # a coroutine of its own (bench/inprocess.py, plaintext: 3.63 -> 3.44 µs).
        kind = type(result)
        if kind is dict or kind is list or kind is self.model:
            try:
                body, content_type = self.encode(result), _JSON
            except Exception as exc:
                raise Unencodable from exc
        else:
            rendered = self.render(result)
            if isinstance(rendered, Response):
                if type(rendered).__call__ is _PLAIN_CALL and rendered.background is None:
                    await send(
                        {
                            "type": "http.response.start",
                            "status": rendered.status_code,
                            "headers": rendered.raw_headers,
                        }
                    )
                    await send({"type": "http.response.body", "body": rendered.body})
                    return
                await rendered(scope, receive, send)
                return
            body, maybe_type = rendered
            if maybe_type is None:
                await send({"type": "http.response.start", "status": self.status, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            content_type = maybe_type
        await send(
            {
                "type": "http.response.start",
                "status": self.status,
                "headers": [
                    (b"content-type", content_type),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
