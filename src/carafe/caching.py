"""Response caching per route, in memory or in Redis.

A route opts in with a dependency that says for how long, and the app caches with
``ResponseCache`` middleware (which store, how big)::

    app.add_middleware(ResponseCache, store=MemoryCache(max_entries=10_000))

    @app.get("/catalogue", dependencies=[cache(60, vary=["accept-language"])])
    async def catalogue(lang: str = "en") -> list[Item]: ...

The key is the scheme, the ``Host``, the path, the query string and the values of the
``vary`` headers (``GET`` and ``HEAD`` share it: nothing else is cached). A hit is
answered before the app's routing, handler and dependencies run, with an ``Age`` header;
``HEAD`` is answered from the cached ``GET``; a stored ``ETag`` that matches the request's
``If-None-Match`` is a 304. What is never cached, so that nobody gets
another visitor's answer:

- a request with ``Authorization`` or ``Cookie`` (it is answered, not looked up or
  stored: what it sees may be its own);
- an answer that sets a cookie, says ``Vary: Cookie`` (it read the session) or varies
  by any header the route did not declare in ``vary`` (``Accept-Encoding`` from gzip
  inside the cache, ``*``), says ``Cache-Control: private`` or ``no-store``, is not a
  200, or streams in pieces.

With Redis unreachable the cache is skipped (the request is answered as if uncached)
and that is logged once a minute: never a 500.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from carafe.context import context_of
from carafe.di import Dependency
from carafe.exceptions import ConfigurationError
from carafe.middleware._headers import get_header
from carafe.middleware.etag import KEEP_ON_304, etag_matches

if TYPE_CHECKING:
    from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CachePolicy", "MemoryCache", "RedisCache", "ResponseCache", "cache"]

logger = logging.getLogger("carafe.caching")
_PRIVATE = (b"private", b"no-store")
_MAX_BODY = 1024 * 1024  # larger answers are not kept
_NEVER_KEYED = (b"cookie", b"*")  # an answer that varies by these is never stored


class CachePolicy:
    """How long a route's answers are kept, and which request headers they vary by."""

    __slots__ = ("ttl", "vary")

    def __init__(self, ttl: float, vary: Sequence[str] = ()) -> None:
        if ttl <= 0:
            raise ConfigurationError(f"cache(ttl) must be positive, not {ttl!r}")
        self.ttl = ttl
        self.vary = tuple(sorted(name.lower().encode("latin-1") for name in vary))

    def __call__(self) -> None:
        """Nothing per request: ``ResponseCache`` reads the policy from the route."""

    def __repr__(self) -> str:
        return f"cache({self.ttl!r}, vary={[v.decode() for v in self.vary]!r})"


def cache(ttl: float, *, vary: Sequence[str] = ()) -> Any:
    """A route (or router) dependency: its answers are cached for ``ttl`` seconds.

    Args:
        ttl: Seconds an answer is kept.
        vary: Request headers whose values are part of the key (``accept-language``).
    """
    return Dependency(CachePolicy(ttl, vary), use_cache=True)


class CacheStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl: float) -> None: ...


class MemoryCache:
    """Answers kept in this process, the least recently used dropped past ``max_entries``."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires, value = found
        if expires < time.monotonic():
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        self._entries[key] = (time.monotonic() + ttl, value)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)


class RedisCache:
    """Answers kept in Redis, shared by every worker; the TTL is Redis's own expiry."""

    def __init__(self, url: str, *, prefix: str = "carafe:cache:") -> None:
        self.url = url
        self.prefix = prefix
        self._client: Any = None
        self._loop: Any = None

    def _redis(self) -> Any:
        import asyncio

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            from carafe._redis import redis_client

            self._client, self._loop = redis_client(self.url), loop
        return self._client

    async def get(self, key: str) -> bytes | None:
        found: bytes | None = await self._redis().get(self.prefix + key)
        return found

    async def set(self, key: str, value: bytes, ttl: float) -> None:
        await self._redis().set(self.prefix + key, value, px=max(1, int(ttl * 1000)))

    async def close(self) -> None:
        """Close the connections (call it at shutdown)."""
        if self._client is not None:
            await self._client.aclose()
            self._client = None


class _Entry(msgspec.Struct, array_like=True):
    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    stored: float
    etag: bytes | None = None  # the answer's ETag, found once when it is stored


_encode = msgspec.msgpack.Encoder().encode
_decode = msgspec.msgpack.Decoder(_Entry).decode


class ResponseCache:
    """Serve and keep the answers of routes with a ``cache(...)`` dependency.

    Args:
        app: The app to wrap.
        store: ``MemoryCache()`` (the default) or ``RedisCache(url)``.
    """

    def __init__(self, app: ASGIApp, *, store: CacheStore | None = None) -> None:
        self.app = app
        self.store: CacheStore = store if store is not None else MemoryCache()
        self._policies: dict[int, CachePolicy | None] = {}  # id(plan) -> its policy
        self._last_warning = 0.0

    def policy(self, scope: Scope) -> CachePolicy | None:
        route = context_of(scope).route
        if route is None:
            return None
        plan = route.plan
        if id(plan) not in self._policies:  # once per compiled route
            found = [c.fn for c in plan.calls if isinstance(c.fn, CachePolicy)]
            self._policies[id(plan)] = found[-1] if found else None  # the route's own wins
        return self._policies[id(plan)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        policy = self.policy(scope)
        if policy is None or any(k in (b"authorization", b"cookie") for k, _ in scope["headers"]):
            await self.app(scope, receive, send)
            return
        key = _key(scope, policy)
        entry = await self._get(key)
        if entry is not None:
            await _replay(entry, scope, send)
            return
        await self.app(scope, receive, self._keeper(key, policy, scope, send))

    async def _get(self, key: str) -> _Entry | None:
        try:
            raw = await self.store.get(key)
        except Exception as exc:  # the store's own errors: Redis down, a timeout
            self._unavailable(exc)
            return None
        return None if raw is None else _decode(raw)

    def _keeper(self, key: str, policy: CachePolicy, scope: Scope, send: Send) -> Send:
        start: Message | None = None
        head = scope["method"] == "HEAD"

        async def keep(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message if not head and _storable(message, policy) else None
            elif start is not None and message["type"] == "http.response.body":
                body = message.get("body", b"")
                if not message.get("more_body", False) and len(body) <= _MAX_BODY:
                    headers = list(start["headers"])
                    etag = next((v for k, v in headers if k == b"etag"), None)
                    entry = _Entry(start["status"], headers, body, time.time(), etag)
                    await self._set(key, _encode(entry), policy.ttl)
                start = None
            await send(message)

        return keep

    async def _set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            await self.store.set(key, value, ttl)
        except Exception as exc:
            self._unavailable(exc)

    def _unavailable(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._last_warning > 60:
            self._last_warning = now
            logger.warning("Response cache unreachable; answering without it: %s", exc)


def _key(scope: Scope, policy: CachePolicy) -> str:
    # PERF: scheme and host in the key cost about 0.4 us a hit (1.7 -> 2.1 us,
    # bench/production.py --parts inprocess, two runs each); the host is found by a
    # scan that stops at it (usually the first header), the dict built only for vary.
    host = next((value for name, value in scope["headers"] if name == b"host"), b"")
    parts = [scope.get("scheme", "http"), host.decode("latin-1")]
    parts += [scope["path"], scope.get("query_string", b"").decode("latin-1")]
    if policy.vary:
        headers = dict(scope["headers"])
        parts += [headers.get(name, b"").decode("latin-1") for name in policy.vary]
    return "\x1f".join(parts)


def _storable(start: Message, policy: CachePolicy) -> bool:
    if start["status"] != 200:
        return False
    for name, value in start.get("headers", ()):
        if name == b"set-cookie":
            return False
        if name == b"vary" and not _varies_within(value, policy):
            return False
        if name == b"cache-control" and any(word in value.lower() for word in _PRIVATE):
            return False
    return True


def _varies_within(vary: bytes, policy: CachePolicy) -> bool:
    """Whether every header a ``Vary`` names is part of the key (``Cookie`` and ``*``
    never are): an answer gzipped by middleware inside the cache says ``Vary:
    Accept-Encoding``, and must not reach a client that did not ask for gzip."""
    names = (part.strip() for part in vary.lower().split(b","))
    return all(name in policy.vary and name not in _NEVER_KEYED for name in names if name)


async def _replay(entry: _Entry, scope: Scope, send: Send) -> None:
    age = (b"age", str(max(0, int(time.time() - entry.stored))).encode("latin-1"))
    if entry.etag is not None:  # tagged (ETagMiddleware inside the cache): If-None-Match
        wanted = get_header(scope["headers"], b"if-none-match")
        if wanted is not None and etag_matches(wanted, entry.etag):
            kept = [(k, v) for k, v in entry.headers if k in KEEP_ON_304]
            await send({"type": "http.response.start", "status": 304, "headers": [*kept, age]})
            await send({"type": "http.response.body", "body": b""})
            return
    headers = [*entry.headers, age]
    await send({"type": "http.response.start", "status": entry.status, "headers": headers})
    body = b"" if scope["method"] == "HEAD" else entry.body
    await send({"type": "http.response.body", "body": body})
