"""The chat example: in-process on the memory broker, then two real workers over Redis."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from examples.chat import app as chat

from carafe import Broker
from carafe.testing import TestClient
from tests.conftest import LiveServer, free_port


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.setattr(chat, "broker", Broker())  # in memory, whatever the environment
    with TestClient(chat.app) as client:
        yield client


def test_websocket_clients_get_messages_posted_over_http_and_from_each_other(
    client: TestClient,
) -> None:
    with (
        client.websocket_connect("/ws/lobby?name=ann") as ann,
        client.websocket_connect("/ws/lobby?name=bob") as bob,
    ):
        assert ann.receive_json()["joined"] == "lobby"
        assert bob.receive_json()["joined"] == "lobby"
        posted = client.post("/rooms/lobby/messages", json={"name": "cat", "text": "hi all"})
        assert posted.status_code == 201
        for ws in (ann, bob):
            message = ws.receive_json()
            assert (message["name"], message["text"], message["room"]) == ("cat", "hi all", "lobby")
        bob.send_json({"text": "hello ann"})
        assert ann.receive_json()["text"] == "hello ann"
        assert bob.receive_json()["name"] == "bob"  # the sender hears itself too
        bob.send_json({"text": ""})
        assert bob.receive_json()["errors"][0]["loc"] == ["message", "text"]


def test_bad_room_and_bad_post_are_422(client: TestClient) -> None:
    response = client.post("/rooms/no%20spaces/messages", json={"name": "a", "text": "b"})
    assert response.status_code == 422
    assert client.post("/rooms/lobby/messages", json={"name": "a"}).status_code == 422
    assert client.get("/").headers["content-type"].startswith("text/html")


def test_sse_feed_of_a_room(client: TestClient) -> None:
    with client.stream("GET", "/rooms/news/events") as response:
        lines = response.iter_lines()
        assert next(lines) == ": listening to news"
        client.post("/rooms/news/messages", json={"name": "ann", "text": "extra!"})
        assert next(lines) == ""
        assert next(lines) == "event: message"
        data = msgspec.json.decode(next(lines).removeprefix("data: "))
        assert (data["name"], data["text"]) == ("ann", "extra!")


def test_broker_down_answers_503_and_the_websocket_stays_open(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    with client.websocket_connect("/ws/lobby") as ws:
        ws.receive_json()
        monkeypatch.setattr(chat, "broker", Broker(f"redis://127.0.0.1:{free_port()}/0"))
        response = client.post("/rooms/lobby/messages", json={"name": "a", "text": "b"})
        assert response.status_code == 503
        assert response.json()["detail"] == "Chat is unavailable for a moment; try again."
        ws.send_json({"text": "anyone?"})
        assert ws.receive_json() == {"error": "Chat is unavailable for a moment; try again."}


@pytest.mark.slow
@pytest.mark.anyio
async def test_two_workers_share_a_room_through_redis(
    redis_url: str, live_server: type[LiveServer]
) -> None:
    from websockets.asyncio.client import connect

    env = {"CARAFE_REDIS_URL": redis_url}
    worker_a = live_server("examples.chat.app:app", env=env)
    worker_b = live_server("examples.chat.app:app", env=env)
    ws_b_url = f"ws://127.0.0.1:{worker_b.port}/ws/lobby?name=bob"
    ws_a_url = f"ws://127.0.0.1:{worker_a.port}/ws/lobby?name=ann"
    async with connect(ws_b_url) as bob, connect(ws_a_url) as ann, httpx.AsyncClient() as http:
        joined_b = msgspec.json.decode(await bob.recv())
        joined_a = msgspec.json.decode(await ann.recv())
        assert joined_a["worker"] != joined_b["worker"]  # two processes
        response = await http.post(
            f"{worker_a.url}/rooms/lobby/messages", json={"name": "cat", "text": "via A"}
        )
        assert response.status_code == 201
        received = msgspec.json.decode(await asyncio.wait_for(bob.recv(), 5))
        assert (received["text"], received["worker"]) == ("via A", joined_a["worker"])
        await ann.send(msgspec.json.encode({"text": "ann on A"}))
        texts = set()
        while "ann on A" not in texts:
            texts.add(msgspec.json.decode(await asyncio.wait_for(bob.recv(), 5))["text"])
