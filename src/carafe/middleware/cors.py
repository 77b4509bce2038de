"""``CORSMiddleware``: answer CORS preflights and label cross-origin responses.

    app.add_middleware(
        CORSMiddleware,
        allow_origins=["https://shop.example"],
        allow_methods=["GET", "POST"],
        allow_headers=["Authorization"],
        allow_credentials=True,
    )

A request without an ``Origin`` header passes straight through, untouched. A preflight
(``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``) is answered here
without reaching the app: 204 with the ``Access-Control-Allow-*`` headers when it is
allowed, 400 with a plain-text reason when it is not. Any other request with an
``Origin`` reaches the app, and its response gets ``Access-Control-Allow-Origin`` (and
the credentials and expose headers) when the origin is allowed.

The origin ``null`` is allowed only when ``allow_origins`` lists it: any page can send
it (a sandboxed iframe, a ``data:`` URL, a redirect), so neither ``"*"`` with
credentials nor a pattern ever grants it. ``"*"`` without credentials answers it with
``*``, as any origin, which lets no cookie through.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal

from carafe.exceptions import ConfigurationError
from carafe.middleware._headers import Header, add_vary
from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CORSMiddleware"]

ALL_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
# Request headers a browser sends without asking (the CORS safelist).
SAFELISTED_HEADERS = frozenset({"accept", "accept-language", "content-language", "content-type"})
_ORIGIN_SHAPE = re.compile(r"^[a-z][a-z0-9+.-]*://[^/?#\s]+$")
_VARY_ORIGIN: Header = (b"vary", b"Origin")
_CACHE_SIZE = 256
_OWNED = frozenset(
    {
        b"access-control-allow-origin",
        b"access-control-allow-credentials",
        b"access-control-expose-headers",
    }
)


def _check_origin(origin: str) -> str:
    if origin != "null" and not _ORIGIN_SHAPE.match(origin):
        raise ConfigurationError(
            f"CORS origin {origin!r} is not an origin: write scheme://host[:port], "
            "with no path and no trailing slash (e.g. 'https://example.com')"
        )
    return origin


def _compile(pattern: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        message = f"allow_origin_regex {pattern!r} is not a valid pattern: {exc}"
        raise ConfigurationError(message) from None


class CORSMiddleware:
    """Cross-Origin Resource Sharing for every route of the app.

    Args:
        app: The ASGI app to wrap.
        allow_origins: Origins allowed to read responses, e.g. ``["https://a.example"]``,
            or ``"*"`` for any origin; ``"null"`` only if listed (see above).
        allow_origin_regex: A pattern a whole origin may match instead, e.g.
            ``r"https://.*\\.example\\.com"``.
        allow_methods: Methods a preflight may ask for, or ``"*"`` for any.
        allow_headers: Request headers a preflight may ask for (case-insensitive), or
            ``"*"`` for any. The CORS-safelisted headers are always allowed.
        allow_credentials: Let the browser send cookies and read the response. The
            origin is then echoed back, never ``*``, as browsers require.
        expose_headers: Response headers the page's script may read.
        max_age: Seconds a browser may cache a preflight answer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        allow_origins: Sequence[str] | Literal["*"] = (),
        allow_origin_regex: str | None = None,
        allow_methods: Sequence[str] | Literal["*"] = ("GET",),
        allow_headers: Sequence[str] | Literal["*"] = (),
        allow_credentials: bool = False,
        expose_headers: Sequence[str] = (),
        max_age: int = 600,
    ) -> None:
        self.app = app
        origins = ["*"] if allow_origins == "*" else list(allow_origins)
        self.any_origin = "*" in origins
        self.origins = frozenset(_check_origin(o) for o in origins if o != "*")
        self.origin_regex = _compile(allow_origin_regex) if allow_origin_regex else None
        methods = ["*"] if allow_methods == "*" else [m.upper() for m in allow_methods]
        self.any_method = "*" in methods
        self.methods = frozenset(ALL_METHODS if self.any_method else methods)
        headers = ["*"] if allow_headers == "*" else [h.lower() for h in allow_headers]
        self.any_header = "*" in headers
        self.headers = SAFELISTED_HEADERS | frozenset(headers)
        # PERF: every header that does not depend on the request is encoded once, here.
        self.echo_origin = allow_credentials or not self.any_origin
        simple: list[Header] = []
        if allow_credentials:
            simple.append((b"access-control-allow-credentials", b"true"))
        if expose_headers:
            simple.append((b"access-control-expose-headers", ", ".join(expose_headers).encode()))
        self.simple_headers = simple
        preflight: list[Header] = [(b"access-control-max-age", str(max_age).encode())]
        if allow_credentials:
            preflight.append((b"access-control-allow-credentials", b"true"))
        if not self.any_method:
            preflight.append((b"access-control-allow-methods", ", ".join(methods).encode()))
        self.preflight_headers = preflight
        self.listed_headers = ", ".join(sorted(self.headers)).encode()
        self._labels: dict[bytes, list[Header]] = {}  # origin -> headers for its responses

    def allows_origin(self, origin: str) -> bool:
        """Whether responses may be shared with pages served from ``origin``."""
        if origin in self.origins:
            return True
        if origin == "null":
            return self.any_origin and not self.echo_origin
        if self.any_origin:
            return True
        return self.origin_regex is not None and self.origin_regex.fullmatch(origin) is not None

    def _allow_origin(self, origin: bytes) -> Header:
        return (b"access-control-allow-origin", origin if self.echo_origin else b"*")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin: bytes | None = None
        requested_method: bytes | None = None
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value
            elif key == b"access-control-request-method":
                requested_method = value
        if origin is None:
            await self.app(scope, receive, send)
        elif scope["method"] == "OPTIONS" and requested_method is not None:
            await self._preflight(scope, origin, requested_method, send)
        else:
            await self.app(scope, receive, self._labelling(origin, send))

    async def _preflight(self, scope: Scope, origin: bytes, method: bytes, send: Send) -> None:
        text_origin = origin.decode("latin-1")
        requested = ""
        for key, value in scope["headers"]:
            if key == b"access-control-request-headers":
                requested = value.decode("latin-1")
        asked = [h.strip().lower() for h in requested.split(",") if h.strip()]
        problems = []
        if not self.allows_origin(text_origin):
            problems.append(f"origin {text_origin!r} is not allowed")
        if not self.any_method and method.decode("latin-1").upper() not in self.methods:
            problems.append(f"method {method.decode('latin-1')!r} is not allowed")
        refused = [h for h in asked if h not in self.headers]
        if refused and not self.any_header:
            problems.append(f"header(s) {', '.join(refused)} not allowed")
        if problems:
            body = f"CORS preflight refused: {'; '.join(problems)}.".encode()
            headers = [
                (b"content-type", b"text/plain; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
                (b"x-content-type-options", b"nosniff"),
                _VARY_ORIGIN,
            ]
            await send({"type": "http.response.start", "status": 400, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        headers = [self._allow_origin(origin), _VARY_ORIGIN, *self.preflight_headers]
        if self.any_method:
            # A literal "*" means nothing to a browser sending credentials: echo instead.
            headers.append((b"access-control-allow-methods", method))
        if self.any_header:
            if requested:
                headers.append((b"access-control-allow-headers", requested.encode("latin-1")))
        else:
            headers.append((b"access-control-allow-headers", self.listed_headers))
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})

    def _labelling(self, origin: bytes, send: Send) -> Send:
        """``send``, adding the CORS headers to the response head.

        For an allowed origin the middleware's CORS headers replace any the app set.
        """
        # PERF: a site sees few distinct origins; the headers for each are built once
        # (bench/middleware.py, "CORS, allowed Origin": ~3 µs over no middleware; the
        # same case costs ~7 µs with Starlette's CORSMiddleware).
        extra = self._labels.get(origin)
        if extra is None:
            extra = []
            if self.allows_origin(origin.decode("latin-1")):
                extra = [self._allow_origin(origin), *self.simple_headers]
            if len(self._labels) < _CACHE_SIZE:
                self._labels[origin] = extra

        async def send_labelled(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                if extra:
                    headers = [(k, v) for k, v in headers if k.lower() not in _OWNED]
                    headers.extend(extra)
                add_vary(headers, b"Origin")
                message["headers"] = headers
            await send(message)

        return send_labelled
