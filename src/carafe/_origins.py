"""Origins (scheme, host, port), compared exactly: the same-site checks of CSRF and websockets.

Sans-I/O: strings and ASGI scopes in, answers out.

>>> parse_origin("https://Example.com")
('https', 'example.com', 443)
>>> parse_origin("https://example.com.evil.net/page") == parse_origin("https://example.com")
False
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from carafe.exceptions import ConfigurationError

if TYPE_CHECKING:
    from carafe.types import Scope

__all__ = ["Origin", "TrustedOrigins", "own_origin", "parse_origin"]

Origin = tuple[str, str, int]
"""``(scheme, host, port)``: the scheme and host lower-cased, the port always given."""

_PORTS = {"http": 80, "https": 443}
_WEB_SCHEMES = {"ws": "http", "wss": "https"}  # a websocket's page has the http twin


def parse_origin(text: str) -> Origin | None:
    """The origin of an ``Origin`` header, a ``Referer`` URL or a setting; None if none.

    Only ``http`` and ``https`` origins exist here: ``null``, ``file:`` and malformed
    values are None.
    """
    if len(text) > 2048 or not text.isascii():
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:  # a port that is not a number, a bad IPv6 literal
        return None
    scheme = parts.scheme.lower()
    host = parts.hostname
    if scheme not in _PORTS or not host or parts.username is not None:
        return None
    return scheme, host, _PORTS[scheme] if port is None else port


def own_origin(scope: Scope) -> Origin | None:
    """The origin the request was sent to: its scheme and its ``Host`` header.

    A websocket (``ws``/``wss``) maps to its page's scheme (``http``/``https``).
    Without a ``Host`` header, the server's address is used.
    """
    scheme: str = scope.get("scheme", "http")
    scheme = _WEB_SCHEMES.get(scheme, scheme)
    for name, value in scope["headers"]:
        if name == b"host":
            return parse_origin(f"{scheme}://{value.decode('latin-1')}")
    server = scope.get("server")
    if not server or server[1] is None:
        return None
    host, port = server
    return parse_origin(
        f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"
    )


class TrustedOrigins:
    """Origins to accept besides the site's own, from a setting such as
    ``["https://admin.example.com", "https://*.example.com", "http://localhost:5173"]``.

    ``https://*.example.com`` accepts every subdomain of ``example.com`` (not
    ``example.com`` itself, nor ``evilexample.com``); ``"*"`` accepts every origin.
    A malformed entry is a ``ConfigurationError`` naming ``setting``.
    """

    __slots__ = ("anything", "exact", "suffixes")

    def __init__(self, origins: Iterable[str] = (), setting: str = "trusted_origins") -> None:
        if isinstance(origins, str):
            raise ConfigurationError(f"{setting} is a list of origins, not one string")
        exact: set[Origin] = set()
        suffixes: set[Origin] = set()
        self.anything = False
        for entry in origins:
            if entry == "*":
                self.anything = True
                continue
            wildcard = "://*." in entry
            parsed = parse_origin(entry.replace("://*.", "://", 1) if wildcard else entry)
            if parsed is None or urlsplit(entry).path not in ("", "/"):
                raise ConfigurationError(
                    f"{setting}: {entry!r} is not an origin like 'https://example.com' "
                    "or 'https://*.example.com'"
                )
            if wildcard:
                suffixes.add((parsed[0], "." + parsed[1], parsed[2]))
            else:
                exact.add(parsed)
        self.exact = frozenset(exact)
        self.suffixes = tuple(suffixes)

    def __contains__(self, origin: Origin) -> bool:
        if self.anything or origin in self.exact:
            return True
        scheme, host, port = origin
        return any(
            scheme == rule[0] and port == rule[2] and host.endswith(rule[1])
            for rule in self.suffixes
        )
