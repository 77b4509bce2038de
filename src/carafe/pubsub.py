"""Pub/sub channels: a message published anywhere reaches every subscriber, in every worker.

::

    broker = Broker(os.environ.get("CARAFE_REDIS_URL"))   # None: in memory, one process
    broker.init_app(app)   # subscriptions end when the app stops; closed at its shutdown

    @app.post("/rooms/{room}/messages")
    async def post(room: str, message: Message) -> dict:
        await broker.publish(f"room:{room}", message)
        return {"ok": True}

    @app.websocket("/ws/{room}")
    async def listen(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async with broker.subscribe(f"room:{room}") as subscription:
            async for message in subscription:
                await ws.send_json(message.data)

Messages are JSON values (models included): the memory backend encodes and decodes
them as Redis does, so code behaves the same on both. Subscribers receive
``ChannelMessage(channel, data)``; the decoded ``data`` is shared between the
subscribers of one worker, so treat it as read-only.

Backends:

- memory (``Broker()``, the default): one process; ``publish`` delivers at once.
- Redis (``Broker("redis://host:6379/0")``, needs ``carafe[redis]``): every worker
  and machine sharing the Redis. One connection per worker reads all its channels.
  If Redis goes away, ``publish`` raises ``BrokerUnavailable`` at once (logged as one
  warning line; left uncaught in a handler, it is a 503 with ``Retry-After``); the reader
  reconnects (backing off up to a second) and resubscribes, so subscribers resume
  by themselves. Messages published during the outage are lost, as Redis pub/sub
  never stores them.

Stopping: a subscriber loop never ends by itself, and a server waits for open
connections before it shuts the app down. ``init_app(app)`` (or ``Broker(url,
app=app)``) ends every subscription of the broker when ``app.stopping`` is set (the
server was told to exit; see ``carafe._stopping``): iterators stop as after
``close()``, and a subscription opened after that ends at once.

Slow subscribers: each subscription holds at most ``queue_size`` undelivered
messages (1,000 by default). One that falls further behind is ended: its iterator
raises ``SlowSubscriber`` and its queue is freed. Publishers never wait for a slow
reader, and memory never grows without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from carafe._core.codecs import encode_json
from carafe._errors import logger
from carafe.exceptions import BrokerUnavailable, ConfigurationError, SlowSubscriber

if TYPE_CHECKING:
    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub

    from carafe._stopping import Stopping
    from carafe.app import Carafe

__all__ = ["Broker", "ChannelMessage", "Subscription"]

_OVERFLOW = object()
_CLOSED = object()
_CONTROL = "carafe:pubsub:control"  # keeps the reader subscribed to something


class ChannelMessage:
    """A message received on ``channel``; ``data`` is the published value, decoded."""

    __slots__ = ("channel", "data")

    def __init__(self, channel: str, data: Any) -> None:
        self.channel = channel
        self.data = data

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ChannelMessage):
            return NotImplemented
        return (self.channel, self.data) == (other.channel, other.data)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ChannelMessage({self.channel!r}, {self.data!r})"


class Subscription:
    """What ``Broker.subscribe`` yields: an async iterator of ``ChannelMessage``."""

    __slots__ = ("_ended", "_queue", "channels", "queue_size")

    def __init__(self, channels: tuple[str, ...], queue_size: int) -> None:
        self.channels = channels
        self.queue_size = queue_size
        self._queue: asyncio.Queue[Any] = asyncio.Queue(queue_size + 1)  # +1: the end marker
        self._ended = False

    def _put(self, message: ChannelMessage) -> None:
        if self._ended:
            return
        if self._queue.qsize() >= self.queue_size:
            self._end(_OVERFLOW)
            return
        self._queue.put_nowait(message)

    def _end(self, marker: object) -> None:
        self._ended = True
        while not self._queue.empty():  # free what was waiting: it will never be read
            self._queue.get_nowait()
        self._queue.put_nowait(marker)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> ChannelMessage:
        item = await self._queue.get()
        if isinstance(item, ChannelMessage):
            return item
        self._queue.put_nowait(item)  # keep ending the same way
        if item is _OVERFLOW:
            raise SlowSubscriber(
                f"The subscriber to {', '.join(self.channels)} fell more than "
                f"{self.queue_size} messages behind; its subscription was ended"
            )
        raise StopAsyncIteration

    async def get(self, timeout: float | None = None) -> ChannelMessage:
        """The next message; ``TimeoutError`` after ``timeout`` seconds without one."""
        return await asyncio.wait_for(self.__anext__(), timeout)

    def __repr__(self) -> str:
        return f"<Subscription {list(self.channels)}>"


class _Hub:
    """This worker's subscribers, by channel: the fan-out every backend feeds."""

    def __init__(self) -> None:
        self.subscribers: dict[str, set[Subscription]] = {}

    def add(self, subscription: Subscription) -> list[str]:
        """Register ``subscription``; returns the channels nobody here wanted before."""
        new = []
        for channel in subscription.channels:
            subscribers = self.subscribers.get(channel)
            if subscribers is None:
                subscribers = self.subscribers[channel] = set()
                new.append(channel)
            subscribers.add(subscription)
        return new

    def remove(self, subscription: Subscription) -> list[str]:
        """Forget ``subscription``; returns the channels nobody here wants any more."""
        gone = []
        for channel in subscription.channels:
            subscribers = self.subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self.subscribers[channel]
                    gone.append(channel)
        return gone

    def deliver(self, channel: str, payload: bytes) -> None:
        subscribers = self.subscribers.get(channel)
        if not subscribers:
            return
        message = ChannelMessage(channel, msgspec.json.decode(payload))
        for subscription in tuple(subscribers):
            subscription._put(message)

    def end_all(self) -> None:
        for subscribers in self.subscribers.values():
            for subscription in subscribers:
                subscription._end(_CLOSED)


class _MemoryBackend:
    def __init__(self, hub: _Hub) -> None:
        self.hub = hub

    async def publish(self, channel: str, payload: bytes) -> None:
        self.hub.deliver(channel, payload)

    async def subscribe(self, channels: Sequence[str]) -> None:
        pass

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        pass

    async def close(self) -> None:
        pass


def _where(url: str) -> str:
    """``host:port`` of a Redis URL: never its password, for messages and logs."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"


class _RedisBackend:
    """Publishes with a pooled client; one reader task per worker feeds the hub."""

    def __init__(self, url: str, hub: _Hub) -> None:
        if importlib.util.find_spec("redis") is None:  # at startup, not on the first publish
            raise ConfigurationError("A Redis broker needs redis: pip install 'carafe[redis]'")
        self.url = url
        self.hub = hub
        self.where = _where(url)
        self._client: Redis | None = None
        self._pubsub: PubSub | None = None
        self._reader: asyncio.Task[None] | None = None
        self._attempted: asyncio.Event | None = None
        self._waiting: dict[str, list[asyncio.Event]] = {}
        self._errors: tuple[type[BaseException], ...] = (OSError,)

    def _redis(self) -> Redis:
        if self._client is None:
            import redis

            from carafe._redis import redis_client

            self._errors = (redis.RedisError, OSError)
            # One quick retry (a stale pooled connection), then a clear error: a
            # publisher must learn at once that Redis is down, not after backoffs.
            self._client = redis_client(self.url, socket_connect_timeout=2.0)
        return self._client

    async def publish(self, channel: str, payload: bytes) -> None:
        client = self._redis()
        try:
            await client.publish(channel, payload)
        except self._errors as exc:
            reason = f"Cannot publish to {channel!r}: Redis at {self.where} is unreachable ({exc})"
            logger.warning("%s", reason)
            raise BrokerUnavailable(reason) from None

    async def subscribe(self, channels: Sequence[str]) -> None:
        if self._reader is None:
            self._redis()
            self._attempted = asyncio.Event()
            self._reader = asyncio.ensure_future(self._read_forever())
        assert self._attempted is not None
        await self._attempted.wait()
        pubsub = self._pubsub
        if pubsub is None:
            return  # Redis is down: the reader subscribes when it reconnects
        events = [asyncio.Event() for _ in channels]
        for channel, event in zip(channels, events, strict=True):
            self._waiting.setdefault(channel, []).append(event)
        failures: tuple[type[BaseException], ...] = (*self._errors, TimeoutError)
        try:
            await pubsub.subscribe(*channels)
            # Confirmed by Redis: a message published from now on reaches us.
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in events)), 5.0)
        except failures:
            pass  # the connection broke meanwhile: the reader resubscribes

    async def unsubscribe(self, channels: Sequence[str]) -> None:
        pubsub = self._pubsub
        if pubsub is not None:
            with contextlib.suppress(*self._errors):
                await pubsub.unsubscribe(*channels)

    async def _connect(self) -> None:
        pubsub = self._redis().pubsub()
        try:
            await pubsub.subscribe(_CONTROL)
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2
            raise
        # No await between publishing the pubsub and reading the hub: a subscriber
        # added after this point subscribes itself, one added before is included here.
        self._pubsub = pubsub
        wanted = list(self.hub.subscribers)
        if wanted:
            await pubsub.subscribe(*wanted)

    async def _pump(self) -> None:
        assert self._pubsub is not None
        async for message in self._pubsub.listen():
            kind = message["type"]
            channel = message["channel"].decode()
            if kind == "message":
                self.hub.deliver(channel, message["data"])
            elif kind == "subscribe":
                for event in self._waiting.pop(channel, ()):
                    event.set()

    async def _read_forever(self) -> None:
        delay, lost = 0.05, False
        assert self._attempted is not None
        while True:
            try:
                await self._connect()
                if lost:
                    logger.warning("Redis pub/sub at %s is back; resubscribed", self.where)
                delay, lost = 0.05, False
                self._attempted.set()
                await self._pump()
            except self._errors as exc:
                if not lost:
                    logger.warning(
                        "Redis pub/sub at %s is unreachable (%s); reconnecting", self.where, exc
                    )
                lost = True
            self._attempted.set()
            await self._drop_pubsub()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(*self._errors):
                await pubsub.aclose()  # type: ignore[no-untyped-call,unused-ignore]  # typed from redis 8.2

    async def close(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        await self._drop_pubsub()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*self._errors):
                await client.aclose()


class Broker:
    """Publish messages to channels and subscribe to them.

    Args:
        url: ``None`` or ``"memory://"`` for one process; ``"redis://..."`` (or
            ``rediss://``, ``unix://``) to reach every worker sharing that Redis.
        app: The app whose life the broker follows (or call ``init_app`` later).
        queue_size: Messages one subscription may hold unread before it is ended
            with ``SlowSubscriber``.

    Nothing connects until the first ``publish`` or ``subscribe``; ``close()`` ends
    every subscription and drops the connections.
    """

    def __init__(
        self, url: str | None = None, *, app: Carafe | None = None, queue_size: int = 1000
    ) -> None:
        if queue_size < 1:
            raise ConfigurationError("Broker queue_size must be at least 1")
        self.url = url
        self.queue_size = queue_size
        self._hub = _Hub()
        self._stopping: Stopping | None = None
        self._backend: _MemoryBackend | _RedisBackend
        if not url or url.startswith("memory:"):
            self._backend = _MemoryBackend(self._hub)
        elif url.startswith(("redis://", "rediss://", "unix://")):
            self._backend = _RedisBackend(url, self._hub)
        else:
            raise ConfigurationError(
                f"Unknown broker URL scheme in {url.split(':', 1)[0]!r}; "
                "use memory:// or redis://host:port/db"
            )
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Carafe) -> None:
        """Follow ``app``: end the subscriptions when it begins to stop, close at its shutdown.

        Without this, a websocket or event stream looping on a subscription keeps the
        server from exiting until its graceful timeout.
        """
        self._stopping = app.stopping
        app.stopping.add_callback(self._hub.end_all)
        app.on_shutdown(self.close)

    async def publish(self, channel: str, message: Any) -> None:
        """Send ``message`` (any JSON-able value) to every subscriber of ``channel``.

        Raises ``BrokerUnavailable`` if the broker (Redis) cannot be reached: an
        ``HTTPError`` (503, ``Retry-After: 5``) that a handler may catch, or let escape.
        """
        await self._backend.publish(channel, encode_json(message))

    @contextlib.asynccontextmanager
    async def subscribe(self, *channels: str) -> AsyncIterator[Subscription]:
        """Receive what is published to ``channels`` from now on, while inside the block."""
        if not channels:
            raise ValueError("subscribe() needs at least one channel")
        subscription = Subscription(channels, self.queue_size)
        if self._stopping is not None and self._stopping.is_set():
            subscription._end(_CLOSED)  # the app is stopping: an iterator that ends at once
            yield subscription
            return
        new = self._hub.add(subscription)
        try:
            if new:
                await self._backend.subscribe(new)
            yield subscription
        finally:
            gone = self._hub.remove(subscription)
            if gone:
                await self._backend.unsubscribe(gone)

    async def close(self) -> None:
        """End every subscription (their iterators stop) and close connections."""
        self._hub.end_all()
        await self._backend.close()

    def __repr__(self) -> str:
        kind = "memory" if isinstance(self._backend, _MemoryBackend) else self._backend.where
        return f"<Broker {kind}>"
