"""Pub/sub: the memory backend, and the Redis backend against a real redis-server.

The restart test runs its own redis-server on a free port, kills it and starts it
again on the same port.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import msgspec
import pytest

from carafe import Broker, BrokerUnavailable, Carafe, SlowSubscriber, WebSocket
from carafe.exceptions import ConfigurationError, WebSocketDisconnect
from carafe.pubsub import ChannelMessage, Subscription, _where
from carafe.testing import AsyncTestClient, TestClient
from tests.conftest import RedisProcess

pytestmark = pytest.mark.anyio


class Note(msgspec.Struct):
    text: str


# --- Memory ---------------------------------------------------------------------------


async def test_every_subscriber_of_a_channel_gets_each_message() -> None:
    broker = Broker()
    async with (
        broker.subscribe("news") as first,
        broker.subscribe("news", "sport") as second,
        broker.subscribe("weather") as other,
    ):
        await broker.publish("news", Note("hello"))
        await broker.publish("sport", {"score": [1, 0]})
        assert await first.get(1) == ChannelMessage("news", {"text": "hello"})
        assert await second.get(1) == ChannelMessage("news", {"text": "hello"})
        assert await second.get(1) == ChannelMessage("sport", {"score": [1, 0]})
        with pytest.raises(TimeoutError):
            await other.get(0.05)
        with pytest.raises(TimeoutError):
            await first.get(0.05)  # "sport" is not first's channel
    assert repr(first) == "<Subscription ['news']>"
    assert repr(broker) == "<Broker memory>"
    assert ChannelMessage("a", 1) != "a"


async def test_messages_before_subscribing_are_not_replayed() -> None:
    broker = Broker("memory://")
    await broker.publish("news", "early")  # nobody listening: dropped
    async with broker.subscribe("news") as subscription:
        await broker.publish("news", "late")
        assert (await subscription.get(1)).data == "late"
    assert broker._hub.subscribers == {}  # nothing kept after the block


async def test_a_slow_subscriber_is_ended_and_never_blocks_the_publisher() -> None:
    broker = Broker(queue_size=3)
    async with broker.subscribe("firehose") as slow, broker.subscribe("firehose") as fast:
        for n in range(3):
            await broker.publish("firehose", n)
            assert (await fast.get(1)).data == n  # fast keeps up
        await broker.publish("firehose", 3)  # slow now holds 3 unread: one too many
        assert (await fast.get(1)).data == 3
        assert slow._queue.qsize() == 1  # its backlog was freed, only the end marker is left
        with pytest.raises(SlowSubscriber, match="fell more than 3 messages behind"):
            await slow.get(1)
        with pytest.raises(SlowSubscriber):
            await slow.get(1)  # and it stays ended
        await broker.publish("firehose", 4)
        assert (await fast.get(1)).data == 4


async def test_close_ends_every_subscription() -> None:
    broker = Broker()
    async with broker.subscribe("news") as subscription:
        await broker.close()
        assert [message async for message in subscription] == []


async def collect(subscription: Subscription) -> list[object]:
    return [message.data async for message in subscription]


async def test_subscriptions_end_when_their_app_stops() -> None:
    app = Carafe()
    broker = Broker(app=app)
    await app.startup()
    async with broker.subscribe("news") as first, broker.subscribe("sports") as second:
        waiting = asyncio.ensure_future(collect(second))  # blocked: nothing comes
        await broker.publish("news", 1)
        seen = []
        async for message in first:
            seen.append(message.data)
            app.stopping.set()  # the server was told to exit: both loops end
        assert seen == [1]
        assert await waiting == []
    async with broker.subscribe("news") as late:  # opened while stopping: ends at once
        assert await collect(late) == []
    await app.shutdown()
    # Started again (another test client), the broker works as before.
    await app.startup()
    async with broker.subscribe("news") as subscription:
        await broker.publish("news", 2)
        assert (await subscription.get(1)).data == 2
    await app.shutdown()


async def test_init_app_closes_the_broker_at_shutdown() -> None:
    app = Carafe()
    broker = Broker()
    broker.init_app(app)
    async with AsyncTestClient(app):
        pass
    assert app._shutdown == [broker.close]


async def test_bad_configuration() -> None:
    with pytest.raises(ConfigurationError, match="Unknown broker URL scheme in 'amqp'"):
        Broker("amqp://guest:guest@localhost")
    with pytest.raises(ConfigurationError, match="queue_size"):
        Broker(queue_size=0)
    with pytest.raises(ValueError, match="at least one channel"):
        async with Broker().subscribe():
            pass


def test_redis_location_never_shows_the_password() -> None:
    assert _where("redis://:hunter2@cache.internal:6380/1") == "cache.internal:6380"
    assert _where("redis://localhost") == "localhost:6379"
    assert "hunter2" not in repr(Broker("redis://:hunter2@cache.internal:6380/1"))


# --- Redis ----------------------------------------------------------------------------


@pytest.fixture
async def redis_brokers(redis_url: str) -> AsyncIterator[tuple[Broker, Broker]]:
    """Two brokers on one Redis: what two workers of one app hold."""
    first, second = Broker(redis_url), Broker(redis_url)
    yield first, second
    await first.close()
    await second.close()


async def test_redis_carries_messages_between_brokers(redis_brokers: tuple[Broker, Broker]) -> None:
    worker_a, worker_b = redis_brokers
    async with worker_b.subscribe("room:1") as on_b, worker_a.subscribe("room:1") as on_a:
        await worker_a.publish("room:1", Note("from a"))
        assert await on_b.get(2) == ChannelMessage("room:1", {"text": "from a"})
        assert await on_a.get(2) == ChannelMessage("room:1", {"text": "from a"})
        await worker_b.publish("room:2", "elsewhere")
        with pytest.raises(TimeoutError):
            await on_a.get(0.1)


async def test_redis_unsubscribes_when_the_last_local_subscriber_leaves(
    redis_url: str, redis_brokers: tuple[Broker, Broker]
) -> None:
    import redis.asyncio

    worker, _ = redis_brokers
    client = redis.asyncio.Redis.from_url(redis_url)
    try:
        async with worker.subscribe("lonely"):
            async with worker.subscribe("lonely"):
                assert await client.pubsub_numsub("lonely") == [(b"lonely", 1)]
            assert await client.pubsub_numsub("lonely") == [(b"lonely", 1)]
        for _ in range(50):
            if await client.pubsub_numsub("lonely") == [(b"lonely", 0)]:
                break
            await asyncio.sleep(0.02)
        assert await client.pubsub_numsub("lonely") == [(b"lonely", 0)]
    finally:
        await client.aclose()


async def deliver(broker: Broker, channel: str, subscription_get: object, text: str) -> bool:
    """Publish ``text`` until the subscriber sees it (messages sent before a
    resubscription are lost, as Redis pub/sub keeps nothing)."""
    for _ in range(50):
        try:
            await broker.publish(channel, text)
        except BrokerUnavailable:
            await asyncio.sleep(0.1)
            continue
        try:
            message = await subscription_get(0.1)  # type: ignore[operator]
        except TimeoutError:
            continue
        if message.data == text:
            return True
    return False


async def test_redis_restart_subscribers_resume_and_publishers_get_a_clear_error(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    broker = Broker(own_redis.url)
    try:
        with caplog.at_level(logging.WARNING, logger="carafe"):
            async with broker.subscribe("alerts") as subscription:
                await broker.publish("alerts", "before")
                assert (await subscription.get(2)).data == "before"

                own_redis.kill()
                await asyncio.sleep(0.3)  # the outage lasts: the reader notices
                with pytest.raises(BrokerUnavailable) as error:
                    await broker.publish("alerts", "during")
                message = str(error.value)
                assert message.startswith(
                    f"Cannot publish to 'alerts': Redis at 127.0.0.1:{own_redis.port} "
                    "is unreachable"
                )
                # A subscriber that arrives during the outage waits like the others.
                async with broker.subscribe("alerts") as latecomer:
                    await asyncio.to_thread(own_redis.start)
                    assert await deliver(broker, "alerts", subscription.get, "after")
                    assert await deliver(broker, "alerts", latecomer.get, "after 2")
        assert "is unreachable" in caplog.text
        assert "is back; resubscribed" in caplog.text
    finally:
        await broker.close()


def relay_app(url: str) -> Carafe:
    """An app that publishes without catching ``BrokerUnavailable``: Carafe answers it."""
    broker = Broker(url)
    app = Carafe(docs=None)
    broker.init_app(app)

    @app.post("/rooms/{room}")
    async def post(room: str, note: Note) -> dict[str, bool]:
        await broker.publish(room, note)
        return {"sent": True}

    @app.websocket("/ws/{room}")
    async def relay(ws: WebSocket, room: str) -> None:
        await ws.accept()
        async for text in ws.iter_text():
            await broker.publish(room, text)
            await ws.send_text("sent")

    return app


def test_an_uncaught_outage_is_a_503_and_a_websocket_is_told_to_try_again(
    own_redis: RedisProcess, caplog: pytest.LogCaptureFixture
) -> None:
    app = relay_app(own_redis.url)
    # raise_server_exceptions (the default) re-raises a 500's error here: none comes.
    with caplog.at_level(logging.WARNING, logger="carafe"), TestClient(app) as client:
        assert client.post("/rooms/tea", json={"text": "hi"}).json() == {"sent": True}
        with client.websocket_connect("/ws/tea") as ws:
            ws.send_text("before")
            assert ws.receive_text() == "sent"
            own_redis.kill()
            refused = client.post("/rooms/tea", json={"text": "hi"})
            ws.send_text("during")
            with pytest.raises(WebSocketDisconnect) as closed:
                ws.receive_text()
        own_redis.start()
        after = client.post("/rooms/tea", json={"text": "back"})
    detail = "Messages cannot be sent right now; try again shortly."
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {
        "type": "about:blank",
        "title": "Service Unavailable",
        "status": 503,
        "detail": detail,
    }
    assert (closed.value.code, closed.value.reason) == (1013, detail)
    assert after.json() == {"sent": True}
    assert f"Cannot publish to 'tea': Redis at 127.0.0.1:{own_redis.port} is unreachable" in (
        caplog.text
    )
    assert "Traceback" not in caplog.text
