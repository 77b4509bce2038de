"""The test clients: in-process requests, streaming, lifespan, any ASGI app."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from carafe import Carafe, Request, StreamingResponse
from carafe.lifespan import LifespanDriver
from carafe.testing import AsyncTestClient, TestClient


def streaming_app(closed: list[str]) -> Carafe:
    app = Carafe()

    @app.get("/numbers")
    async def numbers() -> StreamingResponse:
        async def generate() -> AsyncIterator[str]:
            try:
                for i in range(1000):
                    yield f"{i}\n"
                    await asyncio.sleep(0)
            finally:
                closed.append("closed")

        return StreamingResponse(generate(), media_type="text/plain")

    return app


def test_streaming_response_arrives_in_chunks_and_closes_early() -> None:
    closed: list[str] = []
    client = TestClient(streaming_app(closed))
    with client.stream("GET", "/numbers") as response:
        assert response.status_code == 200
        lines = []
        for line in response.iter_lines():
            lines.append(line)
            if len(lines) == 3:
                break
    assert lines == ["0", "1", "2"]
    assert closed == ["closed"]
    full = client.get("/numbers")
    assert full.text.count("\n") == 1000


@pytest.mark.anyio
async def test_async_client_streams() -> None:
    closed: list[str] = []
    async with AsyncTestClient(streaming_app(closed)) as client:
        async with client.stream("GET", "/numbers") as response:
            first = await response.aiter_lines().__anext__()
        assert first == "0"
        assert closed == ["closed"]
        response = await client.get("/numbers")
        assert response.text.startswith("0\n1\n")


def test_root_path_and_headers() -> None:
    app = Carafe()

    @app.get("/where")
    async def where(request: Request) -> dict[str, str]:
        return {"path": request.path, "root": request.scope["root_path"]}

    client = TestClient(app, root_path="/proxy")
    assert client.get("/where").json() == {"path": "/proxy/where", "root": "/proxy"}


def test_plain_asgi_app_without_lifespan() -> None:
    async def raw_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            raise RuntimeError("lifespan not supported")
        await send({"type": "http.response.start", "status": 200, "headers": [(b"x", b"y")]})
        await send({"type": "http.response.body", "body": b"raw"})

    with TestClient(raw_app) as client:
        response = client.get("/")
    assert response.text == "raw"
    assert response.headers["x"] == "y"


def test_app_that_fails_before_answering_raises() -> None:
    async def broken(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            raise RuntimeError("no answer")

    with pytest.raises(RuntimeError, match="no answer"):
        TestClient(broken).get("/")


def test_app_that_returns_without_answering() -> None:
    async def silent(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    response = TestClient(silent).get("/")
    assert response.status_code == 500
    assert response.content == b""


def test_lifespan_driver_for_app_that_returns_at_once() -> None:
    async def ends(scope: dict[str, Any], receive: Any, send: Any) -> None:
        return None

    async def run() -> bool:
        driver = LifespanDriver(ends)
        await driver.startup()
        await driver.shutdown()
        await driver.shutdown()  # a second shutdown is a no-op
        return driver.supported

    assert asyncio.run(run()) is False
