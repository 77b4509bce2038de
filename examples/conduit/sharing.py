"""What Conduit's workers share: the sign-in budget, the tags cache, the comment feed.

``share(app)`` (called by ``create_app``) sets them up from ``REDIS_URL``
(``CARAFE_REDIS_URL``): with it, every worker on every host behind the load balancer
counts sign-in tries in that Redis, keeps ``GET /api/tags`` answers there and relays
new comments through it; without it, each process does all three in its own memory::

    SIGN_IN          10 tries a minute per client address, one budget for
                     POST /api/users/login and the sign-in page's POST
    TAGS_TTL         GET /api/tags answered from the cache for 30 s (with ``Age``);
                     ``CACHE_TAGS=false`` turns that off (every answer from the database)
    CommentFeed      GET /api/articles/{slug}/comments/events: each comment added
                     on any worker, as a Server-Sent Event ``comment``

Redis unreachable: a sign-in is refused with a 503 (the limit fails closed, so it
cannot be guessed around), a comment is refused with a 503 (it could not be relayed;
nothing is saved), the tags are read from the database (the cache steps aside). Never
a 500.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any

from carafe import Broker, Carafe, Request
from carafe.caching import MemoryCache, RedisCache, ResponseCache
from carafe.di import Dependency
from carafe.ratelimit import RateLimit, RateLimits
from carafe.sse import ServerSentEvent

if TYPE_CHECKING:
    from carafe.extensions import Registry
    from carafe.pubsub import Subscription
    from examples.conduit.services import CommentView

__all__ = ["SIGN_IN", "SIGN_IN_RATE", "TAGS_TTL", "CommentFeed", "share"]

SIGN_IN_RATE = "10/minute"
"""Sign-in tries a client may make, through the API and the page together."""
sign_in_budget = RateLimit(SIGN_IN_RATE, "conduit:sign-in")
SIGN_IN = Dependency(sign_in_budget, use_cache=False)
"""The sign-in limit, as a route dependency (``dependencies=[SIGN_IN]``)."""
TAGS_TTL = 30.0
"""Seconds a ``GET /api/tags`` answer is served from the cache."""


class CommentFeed:
    """New comments, published per article to every worker (an extension of the app).

    A handler gets it by annotation (``feed: CommentFeed``); ``publish`` raises
    ``BrokerUnavailable`` (a 503) when Redis cannot be reached.
    """

    def __init__(self, url: str | None) -> None:
        self.broker = Broker(url)

    def install(self, registry: Registry) -> None:
        registry.provide(CommentFeed, self._provide)

    def _provide(self, request: Request) -> CommentFeed:
        return self

    @staticmethod
    def channel(slug: str) -> str:
        return f"conduit:comments:{slug}"

    async def publish(self, slug: str, comment: CommentView) -> None:
        await self.broker.publish(self.channel(slug), comment)

    def subscribe(self, slug: str) -> AbstractAsyncContextManager[Subscription]:
        return self.broker.subscribe(self.channel(slug))

    async def events(self, slug: str) -> AsyncIterator[ServerSentEvent]:
        """The article's new comments as events, until the client leaves or the app stops."""
        async with self.subscribe(slug) as subscription:
            yield ServerSentEvent(comment=f"comments on {slug}")
            async for message in subscription:
                yield ServerSentEvent(message.data, event="comment")


def share(app: Carafe) -> None:
    """Install the sign-in budget's storage, the tags cache and the comment feed on ``app``."""
    url = app.config.get("REDIS_URL") or None
    # NOTE: fail closed: while Redis is away a guesser is not let through uncounted.
    app.extend(RateLimits(url or "memory://", fail="closed", key_prefix="conduit"))
    if str(app.config.get("CACHE_TAGS", True)).lower() not in ("false", "0", "no", "off"):
        store: Any = RedisCache(url, prefix="conduit:cache:") if url else MemoryCache(1_000)
        app.add_middleware(ResponseCache, store=store)
        if isinstance(store, RedisCache):
            app.on_shutdown(store.close)
    feed = CommentFeed(url)
    feed.broker.init_app(app)  # streams end on app.stopping; closed at shutdown
    app.extend(feed)
