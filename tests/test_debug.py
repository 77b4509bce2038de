"""The debug page: traceback, source, locals and request, to loopback clients in debug only."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import carafe
from carafe import Carafe, Request
from carafe.debug import is_library_file, is_loopback, render_page
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
    kwargs.setdefault("base_url", "http://localhost")  # the debug page wants a loopback Host
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
    assert "GET http://localhost/boom" in page
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

    remote = TestClient(from_afar, raise_server_exceptions=False, base_url="http://localhost")
    remote = remote.get("/boom", headers=HTML)
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
    scope = {"type": "http", "headers": [(b"host", b"localhost:8000")], "client": (host, 1)}
    assert is_loopback(Request(scope)) is expected


def test_no_client_is_not_loopback() -> None:
    scope = {"type": "http", "headers": [(b"host", b"localhost")], "client": None}
    assert is_loopback(Request(scope)) is False


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ([(b"host", b"localhost")], True),
        ([(b"host", b"LOCALHOST.:5000")], True),
        ([(b"host", b"127.0.0.1:8000")], True),
        ([(b"host", b"127.1.2.3")], True),
        ([(b"host", b"[::1]:8000")], True),
        ([(b"host", b"[::ffff:127.0.0.1]")], True),
        ([(b"host", b"evil.test")], False),  # DNS rebinding: a foreign name on loopback
        ([(b"host", b"evil.test:8000")], False),
        ([(b"host", b"localhost.evil.test")], False),
        ([(b"host", b"127.0.0.1.evil.test")], False),
        ([(b"host", b"10.0.0.1")], False),
        ([(b"host", b"localhost"), (b"host", b"evil.test")], False),
        ([(b"host", b"localhost/x")], False),
        ([], False),
    ],
)
def test_is_loopback_wants_a_loopback_host(
    headers: list[tuple[bytes, bytes]], expected: bool
) -> None:
    scope = {"type": "http", "headers": headers, "client": ("127.0.0.1", 1)}
    assert is_loopback(Request(scope)) is expected


def test_a_rebound_name_gets_no_debug_page() -> None:
    client = client_for(base_url="http://evil.test:8000")
    for headers in (HTML, {}):
        response = client.get("/boom", headers=headers)
        assert response.status_code == 500
        assert response.json()["detail"] == "The server failed to answer this request."
        assert "coffee" not in response.text


def test_your_frames_show_their_locals_wherever_they_live(tmp_path: Path) -> None:
    # A project checked out in a directory named "carafe" is still the user's code.
    folder = tmp_path / "carafe" / "lib" / "python3" / "site-packages-not"
    folder.mkdir(parents=True)
    (folder / "shop_logic.py").write_text(
        "def price(item):\n    discount = 'my-local-<value>'\n    return 1 / 0\n"
    )
    spec = importlib.util.spec_from_file_location("shop_logic", folder / "shop_logic.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    shop = Carafe(debug=True)

    @shop.get("/price")
    def get_price() -> int:
        return int(module.price("tea"))

    client = TestClient(shop, raise_server_exceptions=False, base_url="http://127.0.0.1:8000")
    page = client.get("/price", headers=HTML).text
    assert "my-local-&lt;value&gt;" in page
    assert f"<details class=frame open><summary><b>price</b> in <code>{folder}" in page
    # Carafe's own frames and the standard library's stay closed, their locals unshown.
    assert is_library_file(carafe.__file__)
    assert is_library_file(json.__file__)
    assert is_library_file("<frozen runpy>")
    assert not is_library_file(str(folder / "shop_logic.py"))


def test_the_page_shows_the_path_when_no_url_can_be_built() -> None:
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/p",
        "query_string": b"",
        "headers": [(b"host", b"a"), (b"host", b"b")],
        "client": ("127.0.0.1", 1),
    }
    page = render_page(ValueError("x"), Request(scope))
    assert "<code>GET /p</code>" in page


@pytest.mark.slow
def test_carafe_run_debug_serves_the_page(live_server: Any) -> None:
    server = live_server("tests.test_debug:app", "--debug")
    response = httpx.get(f"{server.url}/boom", headers=HTML, timeout=10)
    assert response.status_code == 500
    assert "Price of &lt;coffee&gt; is unknown" in response.text
    assert "<b>boom</b>" in response.text
