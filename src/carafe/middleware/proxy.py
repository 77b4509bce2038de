"""``ProxyHeadersMiddleware``: the client's address, scheme, host and prefix as the proxy
in front saw them, believed only when that proxy is one you trust.

    app.add_middleware(ProxyHeadersMiddleware, trusted=["10.0.0.0/8"])

Behind a load balancer the peer of every connection is the proxy: ``request.client`` is
its address, ``request.url`` says ``http`` for a site served over TLS, and an app served
under ``/shop`` builds links without the prefix. Proxies say what they saw in headers:
``X-Forwarded-For``, ``-Proto``, ``-Host``, ``-Prefix`` (or RFC 7239 ``Forwarded``, with
``headers="forwarded"``). Anyone can send those headers, so they are applied only when the
connection comes from a trusted address, and then only as far back as the chain of
trusted proxies goes: the client is the last address in ``X-Forwarded-For`` that is not
one of your proxies.

The same rules hold under every server, because Carafe applies them: ``carafe run`` turns
uvicorn's own proxy-header handling off (it trusts 127.0.0.1 by default; granian has
none).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Literal

from carafe.exceptions import ConfigurationError
from carafe.middleware._headers import replace_header
from carafe.middleware.trustedhost import host_name
from carafe.types import ASGIApp, Receive, Scope, Send

__all__ = ["ProxyHeadersMiddleware"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_SCHEMES = {"http": ("http", "ws"), "https": ("https", "wss")}
_MAX_HOPS = 32  # more addresses than this in one header is not a real chain


class ProxyHeadersMiddleware:
    """Apply what trusted proxies say about the client (see the module docstring).

    Args:
        app: The app to wrap.
        trusted: The proxies' addresses or networks (``"10.0.0.0/8"``, ``"::1"``);
            ``"*"`` trusts every peer (only when nothing can reach the app but the proxy).
        headers: ``"x-forwarded"`` (the default) or ``"forwarded"`` (RFC 7239).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        trusted: Sequence[str] = ("127.0.0.1", "::1"),
        headers: Literal["x-forwarded", "forwarded"] = "x-forwarded",
    ) -> None:
        if headers not in ("x-forwarded", "forwarded"):
            raise ConfigurationError(f"headers is 'x-forwarded' or 'forwarded', not {headers!r}")
        self.app = app
        self.trust_all = "*" in trusted
        self.networks = tuple(_network(entry) for entry in trusted if entry != "*")
        self.rfc7239 = headers == "forwarded"

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        if self.trust_all:
            return True
        try:
            ip = ipaddress.ip_address(address.strip("[]"))
        except ValueError:
            return False
        return any(ip in network for network in self.networks)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            peer = scope.get("client")
            if peer and self.trusts(peer[0]):
                seen = _forwarded(scope) if self.rfc7239 else _x_forwarded(scope)
                self._apply(scope, seen)
        await self.app(scope, receive, send)

    def _apply(self, scope: Scope, seen: dict[str, list[str]]) -> None:
        client = None
        for address in reversed(seen.get("for", [])[-_MAX_HOPS:]):  # the nearest proxy last
            client = address.strip()
            if not self.trusts(client):
                break  # the first address no trusted proxy stands for: the client
        if client is not None and _is_address(client):
            scope["client"] = (client.strip("[]"), 0)
        proto = seen.get("proto", [])
        if proto and proto[-1].strip().lower() in _SCHEMES:
            http, ws = _SCHEMES[proto[-1].strip().lower()]
            scope["scheme"] = ws if scope["type"] == "websocket" else http
        host = seen.get("host", [])
        if host and host_name(host[-1]):
            headers = list(scope["headers"])  # the server's list is not ours to edit
            replace_header(headers, b"host", host[-1].strip().encode("latin-1"))
            scope["headers"] = headers
        prefix = seen.get("prefix", [])
        if prefix and _is_prefix(prefix[-1].strip()):
            scope["root_path"] = prefix[-1].strip().rstrip("/") + scope.get("root_path", "")


def _network(entry: str) -> Network:
    try:
        return ipaddress.ip_network(entry.strip("[]"), strict=False)
    except ValueError:
        raise ConfigurationError(f"{entry!r} is not an address or a network") from None


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def _is_prefix(text: str) -> bool:
    return text.startswith("/") and len(text) < 256 and all(33 <= ord(c) < 127 for c in text)


def _values(scope: Scope, name: bytes) -> list[str]:
    found: list[str] = []
    for key, value in scope["headers"]:
        if key == name:
            found.extend(part for part in value.decode("latin-1").split(",") if part.strip())
    return found


def _x_forwarded(scope: Scope) -> dict[str, list[str]]:
    return {
        "for": _values(scope, b"x-forwarded-for"),
        "proto": _values(scope, b"x-forwarded-proto"),
        "host": _values(scope, b"x-forwarded-host"),
        "prefix": _values(scope, b"x-forwarded-prefix"),
    }


def _forwarded(scope: Scope) -> dict[str, list[str]]:
    """RFC 7239: ``Forwarded: for=192.0.2.1;proto=https;host=shop.example, for=...``."""
    seen: dict[str, list[str]] = {"for": [], "proto": [], "host": []}
    for element in _values(scope, b"forwarded"):
        for pair in element.split(";"):
            name, _, value = pair.partition("=")
            name = name.strip().lower()
            value = value.strip().strip('"')
            if name == "for":
                # ``for="[2001:db8::1]:4711"`` or ``for=192.0.2.1:8080``: drop the port.
                if value.startswith("["):
                    value = value[1 : value.find("]")] if "]" in value else value
                elif value.count(":") == 1:
                    value = value.split(":", 1)[0]
                seen["for"].append(value)
            elif name in ("proto", "host"):
                seen[name].append(value)
    return seen
