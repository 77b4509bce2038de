"""``SecurityHeadersMiddleware``: the response headers every site should send.

    app.add_middleware(
        SecurityHeadersMiddleware,
        hsts_max_age=31_536_000,
        content_security_policy="default-src 'self'",
    )

By default it sends ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
``Referrer-Policy: strict-origin-when-cross-origin`` and
``Cross-Origin-Opener-Policy: same-origin``; HSTS, CSP and a permissions policy when
asked. A header the handler set itself is left as the handler set it, so one route can
loosen (or tighten) a policy.
"""

from __future__ import annotations

from typing import Literal

from carafe.exceptions import ConfigurationError
from carafe.middleware._headers import Header
from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeadersMiddleware"]


class SecurityHeadersMiddleware:
    """Add security headers to every HTTP response.

    Args:
        app: The ASGI app to wrap.
        content_type_options: Send ``X-Content-Type-Options: nosniff``.
        frame_options: ``X-Frame-Options``: ``"DENY"``, ``"SAMEORIGIN"``, or None.
        referrer_policy: ``Referrer-Policy``, or None.
        hsts_max_age: Seconds for ``Strict-Transport-Security``; None sends none. Only
            enable it once the whole site (and subdomains, if included) serves HTTPS.
        hsts_include_subdomains: Add ``includeSubDomains`` to HSTS.
        hsts_preload: Add ``preload`` to HSTS (requires a year and subdomains).
        content_security_policy: The ``Content-Security-Policy`` value, or None.
        cross_origin_opener_policy: ``Cross-Origin-Opener-Policy``, or None.
        permissions_policy: The ``Permissions-Policy`` value, or None.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        content_type_options: bool = True,
        frame_options: Literal["DENY", "SAMEORIGIN"] | None = "DENY",
        referrer_policy: str | None = "strict-origin-when-cross-origin",
        hsts_max_age: int | None = None,
        hsts_include_subdomains: bool = False,
        hsts_preload: bool = False,
        content_security_policy: str | None = None,
        cross_origin_opener_policy: str | None = "same-origin",
        permissions_policy: str | None = None,
    ) -> None:
        self.app = app
        values: dict[str, str | None] = {
            "x-content-type-options": "nosniff" if content_type_options else None,
            "x-frame-options": frame_options,
            "referrer-policy": referrer_policy,
            "strict-transport-security": _hsts(hsts_max_age, hsts_include_subdomains, hsts_preload),
            "content-security-policy": content_security_policy,
            "cross-origin-opener-policy": cross_origin_opener_policy,
            "permissions-policy": permissions_policy,
        }
        # PERF: encoded once; per response only the names the handler set are compared.
        self.headers: list[Header] = [
            (name.encode("latin-1"), value.encode("latin-1"))
            for name, value in values.items()
            if value is not None
        ]
        self.names = frozenset(name for name, _ in self.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.headers:
            await self.app(scope, receive, send)
            return
        ours, names = self.headers, self.names

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", ())
                present = {key.lower() for key, _ in headers}
                if present.isdisjoint(names):  # the usual case: add them all
                    message["headers"] = [*headers, *ours]
                else:
                    message["headers"] = [*headers, *(h for h in ours if h[0] not in present)]
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _hsts(max_age: int | None, subdomains: bool, preload: bool) -> str | None:
    if max_age is None:
        if subdomains or preload:
            raise ConfigurationError("hsts_include_subdomains and hsts_preload need hsts_max_age")
        return None
    if max_age < 0:
        raise ConfigurationError("hsts_max_age must not be negative")
    if preload and (max_age < 31_536_000 or not subdomains):
        raise ConfigurationError(
            "HSTS preload lists require hsts_max_age >= 31536000 and hsts_include_subdomains"
        )
    value = f"max-age={max_age}"
    if subdomains:
        value += "; includeSubDomains"
    if preload:
        value += "; preload"
    return value
