"""The debug page: traceback, source, locals and request, to loopback clients in debug only."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carafe import Carafe, Request
from carafe.debug import is_loopback
from carafe.testing import TestClient

HTML = {"accept": "text/html,application/xhtml+xml"}


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def lookup(stock: dict[str, int], name: str) -> int:
    return stock[name]


app = Carafe(debug=True)


@app.get("/boom")
async def boom(request: Request) -> None:
    secret_note = "<b>local & visible</b>"
    broken = Broken()
    assert secret_note and broken
    try:
        lookup({"tea": 1}, "coffee<script>")
    except KeyError as exc:
        raise ValueError("Price of <coffee> is unknown") from exc


def client_for(debug: bool = True, **kwargs: Any) -> TestClient:
    app.debug = debug
    return TestClient(app, raise_server_exceptions=False, **kwargs)


@pytest.fixture(autouse=True)
def restore_debug() -> Any:
    yield
    app.debug = True


def test_browsers_on_loopback_get_the_debug_page() -> None:
    response = client_for().get("/boom", headers={**HTML, "cookie": "session=abc123secret"})
    assert response.status_code == 500
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    page = response.text
    assert "<h1>ValueError: Price of &lt;coffee&gt; is unknown</h1>" in page
    # The chain: the KeyError it came from, then the ValueError, with their frames.
    assert page.index("KeyError") < page.index("was the cause of")
    assert "<b>lookup</b>" in page and "<b>boom</b>" in page
    assert "return stock[name]" in page
    assert "&#x27;coffee&lt;script&gt;&#x27;" in page
    # Locals, escaped; a broken repr does not break the page.
    assert "&lt;b&gt;local &amp; visible&lt;/b&gt;" in page
    assert "&lt;Broken instance at" in page
    assert "<b>local" not in page and "<script>" not in page
    # The request, with cookie values hidden.
    assert "GET http://testserver/boom" in page
    assert "abc123secret" not in page
    assert "(20 characters hidden)" in page


def test_api_clients_get_problem_json_with_the_traceback() -> None:
    body = client_for().get("/boom").json()
    assert body["detail"] == "ValueError: Price of <coffee> is unknown"
    assert any("lookup" in line for line in body["traceback"])


def test_nothing_leaks_with_debug_off() -> None:
    for headers in (HTML, {}):
        response = client_for(debug=False).get("/boom", headers=headers)
        assert response.status_code == 500
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "The server failed to answer this request."
        assert "coffee" not in response.text


def test_nothing_leaks_through_a_proxy_or_to_remote_clients() -> None:
    proxied = client_for().get("/boom", headers={**HTML, "x-forwarded-for": "203.0.113.9"})
    assert proxied.headers["content-type"] == "application/problem+json"
    assert "coffee" not in proxied.text

    async def from_afar(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "client": ("203.0.113.9", 4000)}, receive, send)

    remote = TestClient(from_afar, raise_server_exceptions=False).get("/boom", headers=HTML)
    assert remote.status_code == 500
    assert "coffee" not in remote.text and "Traceback" not in remote.text


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("::ffff:10.0.0.1", False),
        ("not-an-address", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    scope = {"type": "http", "headers": [], "client": (host, 1)}
    assert is_loopback(Request(scope)) is expected


def test_no_client_is_not_loopback() -> None:
    assert is_loopback(Request({"type": "http", "headers": [], "client": None})) is False


@pytest.mark.slow
def test_carafe_run_debug_serves_the_page(live_server: Any) -> None:
    server = live_server("tests.test_debug:app", "--debug")
    response = httpx.get(f"{server.url}/boom", headers=HTML, timeout=10)
    assert response.status_code == 500
    assert "Price of &lt;coffee&gt; is unknown" in response.text
    assert "<b>boom</b>" in response.text
