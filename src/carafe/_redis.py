"""The one way Carafe's features open a Redis client (sessions, the response cache,
pub/sub, jobs).

Each gets one immediate retry on a broken connection and no backoff: after Redis
restarts, every pooled connection fails once ("Connection closed by server"), and
without the retry the first command on each would fail (a 503, a lost job status);
with more, or with backoff, a caller would learn late that Redis is really down.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["redis_client"]


def redis_client(url: str, **options: Any) -> Redis:
    """``redis.asyncio.Redis.from_url(url, **options)`` with the retry described above."""
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError

    return Redis.from_url(
        url, retry=Retry(NoBackoff(), 1), retry_on_error=[ConnectionError], **options
    )
