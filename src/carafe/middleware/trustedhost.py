"""``TrustedHostMiddleware``: answer only requests whose ``Host`` names this site.

    app.add_middleware(TrustedHostMiddleware, allowed_hosts=["example.com", "*.example.com"])

This stops Host-header attacks (poisoned password-reset links, cache poisoning) before
any handler builds a URL from the header. A request for another host gets a 400
problem+json response; a websocket for another host is closed before it is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from carafe.exceptions import ConfigurationError, HTTPError
from carafe.responses import ProblemResponse, RedirectResponse
from carafe.types import ASGIApp, Receive, Scope, Send

__all__ = ["TrustedHostMiddleware", "host_name"]

_SHOWN = 100  # at most this much of a rejected Host is echoed in the error


# A host name (dot-separated labels) or a bracketed IPv6 address, then maybe a port.
_HOST_HEADER = re.compile(r"((?:[a-z0-9_-]+\.)*[a-z0-9_-]+\.?|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?")


def host_name(header: str) -> str:
    """The host a ``Host`` header names: no port, lowercased, no trailing dot.

    Anything that is not a host name or an IPv6 literal gives ``""``, so that
    ``evil.test/.example.com`` cannot pass for a subdomain of ``example.com``.

    >>> host_name("Example.COM.:8000"), host_name("[::1]:8000"), host_name("a.test/.b.test")
    ('example.com', '[::1]', '')
    """
    match = _HOST_HEADER.fullmatch(header.strip().lower())
    return match.group(1).rstrip(".") if match else ""


def _check_pattern(pattern: str) -> str:
    pattern = pattern.strip().lower()
    if pattern == "*":
        return pattern
    wildcard = pattern.startswith("*.")
    rest = pattern[2:] if wildcard else pattern
    port = rest.partition("]")[2] if rest.startswith("[") else rest
    if not rest or "*" in rest or "/" in rest or ":" in port:
        raise ConfigurationError(
            f"Allowed host {pattern!r} must be a host name (no scheme, port or path), "
            "'*.domain' for its subdomains, or '*'"
        )
    return pattern


class TrustedHostMiddleware:
    """Refuse requests whose ``Host`` header is not one of ``allowed_hosts``.

    Args:
        app: The ASGI app to wrap.
        allowed_hosts: Host names, without ports: ``"example.com"``; ``"*.example.com"``
            for any subdomain (not ``example.com`` itself); ``"*"`` for any host.
        www_redirect: Redirect ``example.com`` to ``www.example.com`` (301) when only
            the ``www.`` name is allowed.
    """

    def __init__(
        self, app: ASGIApp, *, allowed_hosts: Sequence[str] = ("*",), www_redirect: bool = False
    ) -> None:
        if isinstance(allowed_hosts, str):
            raise ConfigurationError("allowed_hosts must be a list of host names, not one string")
        patterns = [_check_pattern(p) for p in allowed_hosts]
        self.app = app
        self.any_host = "*" in patterns
        self.exact = frozenset(p for p in patterns if not p.startswith("*"))
        self.suffixes = tuple(p[1:] for p in patterns if p.startswith("*."))
        self.www_redirect = www_redirect

    def allows(self, host: str) -> bool:
        """Whether ``host`` (a bare name, see ``host_name``) is allowed."""
        return self.any_host or host in self.exact or host.endswith(self.suffixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.any_host or scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        raw: bytes | None = None
        count = 0
        for key, value in scope["headers"]:
            if key == b"host":
                raw = value if raw is None else raw
                count += 1
        header = raw.decode("latin-1") if raw is not None and count == 1 else ""
        host = host_name(header)
        if host and self.allows(host):
            await self.app(scope, receive, send)
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        if host and self.www_redirect and self.allows("www." + host):
            await RedirectResponse(_www_url(scope, header), 301)(scope, receive, send)
            return
        if raw is None:
            error = HTTPError(400, "The request has no Host header.")
        elif count > 1:  # a proxy and the app could each read a different one
            error = HTTPError(400, "The request has more than one Host header.")
        else:
            error = HTTPError(400, f"This server does not answer for host {header[:_SHOWN]!r}.")
        await ProblemResponse.from_error(error)(scope, receive, send)


def _www_url(scope: Scope, header: str) -> str:
    scheme = scope.get("scheme", "http")
    url = f"{scheme}://www.{header.strip()}{quote(scope['path'])}"
    query = scope.get("query_string", b"")
    return f"{url}?{query.decode('latin-1')}" if query else url
