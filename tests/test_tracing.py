"""TracingMiddleware: server spans named by route template, with the HTTP conventions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from carafe import Carafe, WebSocket
from carafe.middleware import TracingMiddleware
from carafe.testing import TestClient


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def make_app(provider: TracerProvider) -> Carafe:
    app = Carafe(docs=None)
    app.add_middleware(TracingMiddleware, tracer_provider=provider, excluded_paths=("/health",))
    tracer = provider.get_tracer("test")

    @app.get("/items/{item_id}")
    def read_item(item_id: int) -> dict[str, int]:  # sync: runs in the app's pool
        with tracer.start_as_current_span("load item"):
            return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/health")
    async def health() -> str:
        return "ok"

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hi")

    return app


def test_spans_are_named_by_template_with_the_conventions(spans: tuple) -> None:
    provider, exporter = spans
    with TestClient(make_app(provider)) as client:
        assert client.get("/items/42?full=1", headers={"user-agent": "t/1"}).status_code == 200
    by_name = {span.name: span for span in exporter.get_finished_spans()}
    server, child = by_name["GET /items/{item_id}"], by_name["load item"]
    assert server.kind == trace.SpanKind.SERVER
    assert dict(server.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/items/{item_id}",
        "url.path": "/items/42",
        "url.query": "full=1",
        "url.scheme": "http",
        "network.protocol.version": "1.1",
        "client.address": "127.0.0.1",
        "server.address": "testserver",
        "user_agent.original": "t/1",
        "http.response.status_code": 200,
    }
    assert child.parent is not None and child.parent.span_id == server.context.span_id


def test_unmatched_errors_and_excluded_paths(spans: tuple) -> None:
    provider, exporter = spans
    with TestClient(make_app(provider), raise_server_exceptions=False) as client:
        assert client.get("/nowhere").status_code == 404
        assert client.get("/boom").status_code == 500
        assert client.get("/health").status_code == 200
    found = {span.name: span for span in exporter.get_finished_spans()}
    assert set(found) == {"GET", "GET /boom"}  # /health is not traced
    assert found["GET"].attributes["http.response.status_code"] == 404
    assert found["GET"].status.status_code == trace.StatusCode.UNSET  # a 4xx is the client's
    assert found["GET /boom"].status.status_code == trace.StatusCode.ERROR


def test_an_incoming_traceparent_continues_the_trace(spans: tuple) -> None:
    provider, exporter = spans
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with TestClient(make_app(provider)) as client:
        client.get("/items/1", headers={"traceparent": parent})
    server = next(s for s in exporter.get_finished_spans() if s.name.startswith("GET"))
    assert f"{server.context.trace_id:032x}" == "0af7651916cd43dd8448eb211c80319c"
    assert server.parent is not None and f"{server.parent.span_id:016x}" == "b7ad6b7169203331"


def test_websockets_get_a_span_too(spans: tuple) -> None:
    provider, exporter = spans
    with TestClient(make_app(provider)) as client, client.websocket_connect("/ws") as ws:
        assert ws.receive_text() == "hi"
    assert [span.name for span in exporter.get_finished_spans()] == ["GET /ws"]
