"""Rate limits, counted by the ``limits`` library in memory or in Redis.

A limit is a dependency, so it goes wherever dependencies go: on the app, a router or
one route, and one ``RateLimit`` object is one budget::

    search_limit = rate_limit("10/minute")                      # keyed by client address
    @app.get("/search", dependencies=[search_limit])
    async def search(q: str) -> list[str]: ...

    api = Router(prefix="/api", dependencies=[rate_limit("1000/hour", key=current_user)])

Over the limit, the request is answered 429 with ``Retry-After`` before the handler runs;
every limited response carries ``RateLimit-Limit``, ``RateLimit-Remaining``,
``RateLimit-Reset`` and ``RateLimit-Policy`` (the IETF httpapi draft's fields, version 07).
Where the counts live is the app's setting, ``RateLimits``, an extension::

    app = Carafe(extensions=[RateLimits("redis://localhost:6379/0", fail="closed")])

Without it each app counts in its own memory (one process). The client address is
``request.client``: behind a proxy, put ``ProxyHeadersMiddleware`` in front so it is the
real client's, not the proxy's.

If the storage cannot be reached (Redis down), ``fail="open"`` (the default) lets the
request through and logs it once a minute; ``fail="closed"`` answers 503. Never a 500.
"""

# NOTE: no ``from __future__ import annotations`` here: the keyed limit's signature names
# its key dependency, a closure variable, which string annotations could not resolve.

import logging
import sys
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from carafe.context import context_of
from carafe.di import Dependency, Depends
from carafe.exceptions import ConfigurationError, HTTPError
from carafe.requests import Request

if TYPE_CHECKING:
    from carafe.extensions import Registry
    from carafe.routing.dispatch import CompiledRoute
    from carafe.types import Message

__all__ = ["RateLimit", "RateLimits", "rate_limit"]

logger = logging.getLogger("carafe.ratelimit")
Strategy = Literal["moving-window", "fixed-window", "sliding-window"]
_EXTENSION = "carafe.ratelimit"


class RateLimits:
    """Where an app's rate-limit counts live, and what to do when that is unreachable.

    Args:
        storage: A ``limits`` storage URI: ``"memory://"`` (the default; one process),
            ``"redis://host:6379/0"`` (shared by every worker and machine).
        strategy: ``"moving-window"`` (exact), ``"fixed-window"`` (cheapest) or
            ``"sliding-window"`` (an approximation of the moving window in two counters).
        fail: ``"open"`` lets requests through while the storage is unreachable;
            ``"closed"`` answers 503.
        key_prefix: Prefixes every key in the storage (several apps on one Redis).
    """

    def __init__(
        self,
        storage: str = "memory://",
        *,
        strategy: Strategy = "moving-window",
        fail: Literal["open", "closed"] = "open",
        key_prefix: str = "carafe",
    ) -> None:
        if fail not in ("open", "closed"):
            raise ConfigurationError(f"fail= is 'open' or 'closed', not {fail!r}")
        if strategy not in ("moving-window", "fixed-window", "sliding-window"):
            raise ConfigurationError(f"Unknown rate-limit strategy {strategy!r}")
        self.uri = storage
        self.strategy = strategy
        self.fail = fail
        self.key_prefix = key_prefix
        self._limiter: Any = None
        self._last_warning = 0.0

    def install(self, registry: "Registry") -> None:
        registry.provide(RateLimits, self._provide)  # instead of the built-in default
        registry.on_shutdown(self._close)

    async def _close(self, app: Any) -> None:
        """Close the storage's connections at shutdown; the next start opens new ones."""
        limiter, self._limiter = self._limiter, None
        # NOTE: limits has no public close; its Redis storage keeps the client on a bridge.
        client = getattr(
            getattr(getattr(limiter, "storage", None), "bridge", None), "storage", None
        )
        close = getattr(client, "aclose", None)
        if close is not None:
            await close()

    def _provide(self, request: Request) -> "RateLimits":
        return self

    def limiter(self) -> Any:
        """The ``limits`` rate limiter over this storage, made on first use."""
        if self._limiter is None:
            from limits.aio import strategies
            from limits.storage import storage_from_string

            kind: Any = {
                "moving-window": strategies.MovingWindowRateLimiter,
                "fixed-window": strategies.FixedWindowRateLimiter,
                "sliding-window": strategies.SlidingWindowCounterRateLimiter,
            }[self.strategy]
            options: dict[str, Any] = {}
            if self.uri.startswith(("redis://", "rediss://")):
                from redis.asyncio.retry import Retry
                from redis.backoff import NoBackoff
                from redis.exceptions import ConnectionError

                # One immediate retry on a broken connection: after a Redis restart
                # each pooled connection fails once, which would be a 503 (fail="closed")
                # or an uncounted request (tests/test_scaleout.py).
                options = {
                    "implementation": "redispy",
                    "wrap_exceptions": True,
                    "retry": Retry(NoBackoff(), 1),
                    "retry_on_error": [ConnectionError],
                }
            self._limiter = kind(storage_from_string("async+" + self.uri, **options))
        return self._limiter

    async def hit(self, item: Any, key: str) -> tuple[bool, int, float] | None:
        """Count one request: ``(allowed, remaining, reset at)``, or None when the
        storage could not be reached and ``fail="open"`` lets it through."""
        limiter = self.limiter()
        try:
            allowed = await limiter.hit(item, self.key_prefix, key)
            stats = await limiter.get_window_stats(item, self.key_prefix, key)
        except Exception as exc:  # the storage's own errors (a refused connection...)
            if self.fail == "closed":
                raise HTTPError(
                    503, "Rate limiting is unavailable; try again shortly.", {"Retry-After": "5"}
                ) from exc
            now = time.monotonic()
            if now - self._last_warning > 60:
                self._last_warning = now
                logger.warning("Rate-limit storage unreachable; letting requests through: %s", exc)
            return None
        return bool(allowed), int(stats.remaining), float(stats.reset_time)


def _default(request: Request) -> RateLimits:
    """An app without ``RateLimits`` counts in its own memory."""
    extensions: dict[str, Any] = request.app.extensions
    limits = extensions.get(_EXTENSION)
    if limits is None:
        limits = extensions[_EXTENSION] = RateLimits()
    return limits


class RateLimitsExtension:
    """Built in: ``rate_limit`` works in every app (in memory until ``RateLimits``)."""

    def install(self, registry: "Registry") -> None:
        registry.provide(RateLimits, _default)
        registry.openapi(_document)


class RateLimit:
    """One budget: ``rate`` (``"10/minute"``, ``"100 per hour"``) per client address, or
    per the value of ``key``'s dependency. Use ``rate_limit(...)`` to make one."""

    def __init__(self, rate: str, name: str) -> None:
        from limits import parse

        try:
            self.item = parse(rate)
        except ValueError as exc:
            raise ConfigurationError(f"Not a rate: {rate!r} ({exc})") from None
        self.rate = rate
        self.name = name  # the same in every worker: the storage key's namespace
        window = int(self.item.get_expiry())
        self.policy = f"{self.item.amount};w={window}".encode("latin-1")

    async def __call__(self, request: Request, limits: RateLimits) -> None:
        client = request.client
        await self.check(request, limits, client.host if client else "unknown")

    async def check(self, request: Request, limits: RateLimits, identity: str) -> None:
        counted = await limits.hit(self.item, f"{self.name}/{identity}")
        if counted is None:
            return
        allowed, remaining, reset_at = counted
        reset = max(0, int(reset_at - time.time() + 0.999))
        headers = {
            "RateLimit-Limit": str(self.item.amount),
            "RateLimit-Remaining": str(remaining),
            "RateLimit-Reset": str(reset),
            "RateLimit-Policy": self.policy.decode("latin-1"),
        }
        if not allowed:
            raise HTTPError(
                429,
                f"Too many requests: at most {self.rate}. Try again in {reset} s.",
                {**headers, "Retry-After": str(max(reset, 1))},
            )
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]

        async def add_headers(message: "Message") -> None:
            if message.get("status", 200) < 400:
                message["headers"] = [*message.get("headers", ()), *raw]

        context_of(request.scope).on_response_start(add_headers)

    def __repr__(self) -> str:
        return f"RateLimit({self.rate!r}, name={self.name!r})"


def rate_limit(rate: str, *, key: Callable[..., Any] | None = None, name: str | None = None) -> Any:
    """A dependency that allows ``rate`` requests per client (or per ``key``'s value).

    Args:
        rate: ``"10/minute"``, ``"5 per second"``, ``"1000/day"`` (``limits``' notation).
        key: A dependency whose value names the caller (a user id, an API key); by
            default the client address.
        name: The budget's name in the storage; by default where ``rate_limit`` was
            called (``module:line``), which is the same in every worker.
    """
    caller = sys._getframe(1)
    name = name or f"{caller.f_globals.get('__name__', '?')}:{caller.f_lineno}"
    if key is None:
        return Dependency(RateLimit(rate, name), use_cache=False)
    key_fn = key

    class KeyedRateLimit(RateLimit):
        async def __call__(  # type: ignore[override]
            self,
            request: Request,
            limits: RateLimits,
            identity: Annotated[Any, Depends(key_fn)],
        ) -> None:
            await self.check(request, limits, str(identity))

    return Dependency(KeyedRateLimit(rate, name), use_cache=False)


def _document(operation: dict[str, Any], route: "CompiledRoute", document: dict[str, Any]) -> None:
    """OpenAPI: a limited operation lists its 429 and says its rate."""
    found = [call.fn for call in route.plan.calls if isinstance(call.fn, RateLimit)]
    if not found:
        return
    responses = operation.setdefault("responses", {})
    responses.setdefault(
        "429",
        {
            "description": "Too many requests: " + ", ".join(limit.rate for limit in found),
            "headers": {"Retry-After": {"schema": {"type": "integer"}}},
            "content": {
                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
            },
        },
    )
