"""CSRF protection: a state-changing request must prove it came from one of our pages.

Turn it on with one setting, ``Carafe(csrf=True)`` (or ``CSRFProtect(app, ...)`` for
options). Then every POST, PUT, PATCH and DELETE to a route of the app must carry the
token, either as the form field ``csrf_token``::

    <form method="post">
      <input type="hidden" name="csrf_token" value="{{ csrf_token() }}">

or in the ``X-CSRF-Token`` header (for ``fetch`` and other JSON clients that rely on
cookies). A missing or wrong token is a 403 ``HTTPError``, answered by the app's exception
handlers (``@app.exception_handler(403)`` for a page of your own) and otherwise as a
problem response; the handler never runs.
Routes for token-authenticated APIs opt out with ``@csrf.exempt`` (``csrf =
CSRFProtect(app)``); mounted apps are left to protect themselves.

Where the secret behind the tokens lives decides whose tokens they are:

a visitor with a session (it holds anything)
    in the session, under ``_csrf``: a token passes only with the session it was
    issued for; ``session.regenerate()`` at login renews it.
an anonymous visitor (an empty session, or an app without sessions)
    in a cookie of its own (``csrftoken``), HMAC-signed with the app's ``secret_key``
    when it has one. Nothing is stored on the server, so a crawler's thousand visits
    to a login page leave no session records. The cookie counts only while the
    visitor is anonymous: once they have a session, only the session's secret does,
    so a cookie and token planted by a sibling subdomain pass for no one's session.

Before the token, a request that carries cookies must come from the site's own pages:
its ``Origin`` header (else its ``Referer``) must be this site (the scheme and
``Host`` of the request) or one of ``trusted_origins``. ``Origin: null``, look-alikes
(``example.com.evil.net``) and malformed values are refused; a request with neither
header passes over HTTP but not over HTTPS, where browsers send at least ``Origin``.

Each rendered token is masked with fresh random bytes, so it never appears twice in
compressed pages (the BREACH attack); any rendering of the same secret verifies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from carafe._origins import TrustedOrigins, own_origin, parse_origin
from carafe.context import Slot, context_of
from carafe.exceptions import HTTPError
from carafe.limits import DEFAULT_LIMITS, Limits
from carafe.requests import Request
from carafe.web.sessions import CSRF_SESSION_KEY, get_session

if TYPE_CHECKING:
    from carafe.app import Carafe
    from carafe.types import ASGIApp, Message, Receive, Scope, Send
    from carafe.web.sessions import Session

__all__ = ["CSRFProtect", "get_csrf_token"]

F = TypeVar("F", bound=Callable[..., Any])

_EXTENSION = "csrf"
_TOKENS_ONLY = "csrf.tokens"  # settings for rendering tokens in an app that checks none
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_TOKEN_BYTES = 32
_SECRET: Slot[bytes] = Slot("csrf_secret")
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        return None


def mask(secret: bytes) -> str:
    """``secret`` XORed with a fresh random pad, pad first: a new string every time."""
    pad = os.urandom(len(secret))
    return _b64(pad + bytes(a ^ b for a, b in zip(pad, secret, strict=True)))


def unmask(token: str) -> bytes | None:
    """The secret inside a masked token, or None if it is not one."""
    if len(token) > 200 or not token.isascii():
        return None
    raw = _unb64(token)
    if raw is None or len(raw) != 2 * _TOKEN_BYTES:
        return None
    pad, masked = raw[:_TOKEN_BYTES], raw[_TOKEN_BYTES:]
    return bytes(a ^ b for a, b in zip(pad, masked, strict=True))


class CSRFProtect:
    """CSRF settings; given an app, they turn the check on for it.

    Args:
        app: The app to protect (None: only render tokens, as ``csrf_token()`` does).
        trusted_origins: Origins of pages, besides the site's own, that may post to
            it, e.g. ``["https://admin.example.com", "https://*.example.com"]``.
        field_name: The form field holding the token.
        header_name: The request header holding the token.
        cookie_name: The cookie holding an anonymous visitor's secret.
        secure: Mark that cookie ``Secure``.
    """

    def __init__(
        self,
        app: Carafe | None = None,
        *,
        trusted_origins: Sequence[str] = (),
        field_name: str = "csrf_token",
        header_name: str = "X-CSRF-Token",
        cookie_name: str = "csrftoken",
        secure: bool = False,
    ) -> None:
        self.trusted_origins = TrustedOrigins(trusted_origins, "trusted_origins")
        self.field_name = field_name
        self.header_name = header_name.lower()
        self.cookie_name = cookie_name
        self._cookie_flags = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")
        self._exempt: set[Callable[..., Any]] = set()
        if app is not None:
            app.extensions[_EXTENSION] = self
            app.add_middleware(CSRFMiddleware, protect=self)

    # --- Which requests are checked ------------------------------------------------

    def exempt(self, handler: F) -> F:
        """Leave the routes of ``handler`` unchecked: for APIs authenticated by a token,
        not a cookie (webhooks, bearer tokens). Above or below the route decorator::

            csrf = CSRFProtect(app)

            @app.post("/hooks/payment")
            @csrf.exempt
            async def payment(event: Event) -> None: ...
        """
        self._exempt.add(handler)
        return handler

    def checked_route(self, scope: Scope) -> Limits | None:
        """The limits of the route a check applies to, or None when none does.

        The app finds the route before its middleware runs (``RequestContext.route``);
        a request for a mounted app or for no route is not checked.
        """
        route = context_of(scope).route
        if route is None or route.handler in self._exempt:
            return None
        return route.route.limits or DEFAULT_LIMITS  # type: ignore[union-attr]

    # --- Tokens --------------------------------------------------------------------

    async def expected_secret(self, request: Request) -> bytes | None:
        """The secret this visitor's token must carry, if they have one.

        A visitor with a session: the session's (None if it holds none yet, whatever
        cookie they bring). An anonymous visitor: their signed CSRF cookie's.
        """
        session = await _session_of(request)
        if session:
            stored = session.get(CSRF_SESSION_KEY)
            return _unb64(stored) if isinstance(stored, str) else None
        cookie = request.cookies.get(self.cookie_name)
        return None if cookie is None else self._read_cookie(request.app, cookie)

    def _read_cookie(self, app: Carafe, value: str) -> bytes | None:
        if len(value) >= 200 or not value.isascii():  # compare_digest takes ASCII only
            return None
        token, _, signature = value.partition(".")
        secret = _unb64(token)
        if secret is None or len(secret) != _TOKEN_BYTES:
            return None
        if _keys(app) and not any(
            hmac.compare_digest(signature, _sign(key, secret)) for key in _keys(app)
        ):
            return None
        return secret

    def _cookie_value(self, app: Carafe, secret: bytes) -> str:
        keys = _keys(app)
        return _b64(secret) + ("." + _sign(keys[0], secret) if keys else "")

    async def token(self, request: Request) -> str:
        """A masked token for this visitor, creating their secret on first use."""
        context = context_of(request.scope)
        secret = context.get(_SECRET)
        if secret is None:
            secret = await self.expected_secret(request)
            if secret is None:
                secret = await self._new_secret(request)
            context.set(_SECRET, secret)
        return mask(secret)

    async def _new_secret(self, request: Request) -> bytes:
        secret = os.urandom(_TOKEN_BYTES)
        session = await _session_of(request)
        if session:
            session[CSRF_SESSION_KEY] = _b64(secret)
            return secret
        cookie = f"{self.cookie_name}={self._cookie_value(request.app, secret)}{self._cookie_flags}"

        async def set_cookie(message: Message) -> None:
            message["headers"] = [*message.get("headers", ()), (b"set-cookie", cookie.encode())]

        context_of(request.scope).on_response_start(set_cookie)
        return secret

    async def submitted_token(self, request: Request) -> str | None:
        """The token the request carries: the header, else the form field."""
        header: str | None = request.headers.get(self.header_name)
        if header is not None:
            return header
        content_type = request.headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() not in _FORM_TYPES:
            return None
        from carafe.forms import read_form

        # The parsed form is kept in the scope: the handler reads it without a second parse.
        value = (await read_form(request)).get(self.field_name)
        return value if isinstance(value, str) else None

    def check_origin(self, request: Request) -> None:
        """Raise a 403 ``HTTPError`` unless a request with cookies comes from this site."""
        headers = request.headers
        if "cookie" not in headers:
            return  # no cookies, no ambient authority to abuse
        source, value = "Origin", headers.get("origin")
        if value is None:
            source, value = "Referer", headers.get("referer")
        if value is None:
            if request.scope.get("scheme") == "https":
                raise HTTPError(
                    403,
                    "The request was refused: over HTTPS a form post needs an Origin or "
                    "Referer header, and it had neither.",
                )
            return
        origin = parse_origin(value)
        if origin is not None and (
            origin == own_origin(request.scope) or origin in self.trusted_origins
        ):
            return
        raise HTTPError(
            403, f"The request was refused: its {source} header is another site's, not this one."
        )

    async def check(self, request: Request) -> None:
        """Raise a 403 ``HTTPError`` unless the request comes from this site, with this
        visitor's token."""
        self.check_origin(request)
        submitted = await self.submitted_token(request)
        if submitted is None:
            raise HTTPError(403, "The CSRF token is missing. Reload the page and try again.")
        expected = await self.expected_secret(request)
        got = unmask(submitted)
        if expected is None or got is None or not hmac.compare_digest(expected, got):
            raise HTTPError(
                403, "The CSRF token is wrong or expired. Reload the page and try again."
            )


async def _session_of(request: Request) -> Session | None:
    """The visitor's session, if the app has sessions (a ``secret_key`` or ``Sessions``)."""
    app = request.app
    if not app.secret_key and "sessions" not in app.extensions:
        return None
    return await get_session(request)


def _keys(app: Carafe) -> list[str]:
    keys = app.secret_key
    if not keys:
        return []
    return [keys] if isinstance(keys, str) else list(keys)


def _sign(key: str, secret: bytes) -> str:
    digest = hmac.new(key.encode(), b"carafe.web.csrf" + secret, hashlib.sha256).digest()
    return _b64(digest)


class CSRFMiddleware:
    """The ASGI side of ``CSRFProtect``: checks unsafe requests before routing."""

    def __init__(self, app: ASGIApp, *, protect: CSRFProtect) -> None:
        self.app = app
        self.protect = protect

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # PERF: safe methods (most requests) pass with two dict probes.
        if scope["type"] != "http" or scope["method"] in _SAFE_METHODS:
            await self.app(scope, receive, send)
            return
        limits = self.protect.checked_route(scope)
        if limits is None:
            await self.app(scope, receive, send)
            return
        request = Request(scope, receive, send, limits=limits)
        try:
            await self.protect.check(request)
        except HTTPError as exc:
            # The app's handlers answer it (an HTML 403 page for a site), as they
            # would an error raised by a handler; a problem response without one.
            await scope["app"].send_error(exc, request, send)
            await _clean_up(scope)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            await _clean_up(scope)


async def _clean_up(scope: Scope) -> None:
    """Close uploads of a form parsed here, if the endpoint did not."""
    await context_of(scope).run_cleanups()


async def get_csrf_token(request: Request) -> str:
    """A CSRF token for a form or header of this visitor (what ``csrf_token()`` renders).

    Works with or without ``CSRFProtect`` (see the module's docstring for where the
    secret behind it lives).
    """
    extensions = request.app.extensions
    protect: CSRFProtect | None = extensions.get(_EXTENSION) or extensions.get(_TOKENS_ONLY)
    if protect is None:
        protect = extensions[_TOKENS_ONLY] = CSRFProtect()
    return await protect.token(request)
