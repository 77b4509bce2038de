"""ProxyHeadersMiddleware: what trusted proxies say is applied; anyone else is ignored."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from carafe import Carafe, Request, WebSocket
from carafe.exceptions import ConfigurationError
from carafe.middleware import ProxyHeadersMiddleware
from carafe.testing import TestClient
from tests.conftest import LiveServer


def make_app(**options: Any) -> Carafe:
    app = Carafe(docs=None)
    app.add_middleware(ProxyHeadersMiddleware, **options)

    @app.get("/where")
    async def where(request: Request) -> dict[str, Any]:
        client = request.client
        return {
            "client": client.host if client else None,
            "url": str(request.url),
            "link": request.url_for("where"),
        }

    return app


def test_a_trusted_proxy_gives_the_client_scheme_host_and_prefix() -> None:
    headers = {
        "x-forwarded-for": "203.0.113.7, 10.0.0.2",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "shop.example",
        "x-forwarded-prefix": "/shop",
    }
    with TestClient(make_app(trusted=["127.0.0.1", "10.0.0.0/8"])) as client:
        seen = client.get("/where", headers=headers).json()
    assert seen == {
        "client": "203.0.113.7",  # 10.0.0.2 is one of ours: the client is before it
        "url": "https://shop.example/shop/where",
        "link": "/shop/where",
    }


def test_an_untrusted_peer_is_not_believed() -> None:
    headers = {
        "x-forwarded-for": "1.2.3.4",
        "x-forwarded-proto": "https",
        "x-forwarded-host": "evil",
    }
    with TestClient(make_app(trusted=["10.0.0.1"])) as client:
        seen = client.get("/where", headers=headers).json()
    assert seen["client"] == "127.0.0.1"
    assert seen["url"].startswith("http://testserver/")


def test_a_spoofed_address_before_the_proxies_is_not_the_client() -> None:
    # The client sent "X-Forwarded-For: 6.6.6.6"; our proxy appended the real address.
    headers = {"x-forwarded-for": "6.6.6.6, 198.51.100.9"}
    with TestClient(make_app(trusted=["127.0.0.1"])) as client:
        assert client.get("/where", headers=headers).json()["client"] == "198.51.100.9"


def test_bad_values_are_ignored() -> None:
    headers = {
        "x-forwarded-for": "not-an-address",
        "x-forwarded-proto": "gopher",
        "x-forwarded-host": "a.test/evil",
        "x-forwarded-prefix": "no-slash",
    }
    with TestClient(make_app()) as client:
        seen = client.get("/where", headers=headers).json()
    assert seen == {"client": "127.0.0.1", "url": "http://testserver/where", "link": "/where"}


def test_rfc_7239_forwarded() -> None:
    headers = {"forwarded": 'for="[2001:db8::1]:4711";proto=https;host=shop.example, for=127.0.0.1'}
    with TestClient(make_app(headers="forwarded")) as client:
        seen = client.get("/where", headers=headers).json()
    assert seen["client"] == "2001:db8::1"
    assert seen["url"] == "https://shop.example/where"


def test_trust_everyone_and_configuration_mistakes() -> None:
    with TestClient(make_app(trusted=["*"])) as client:
        assert client.get("/where", headers={"x-forwarded-for": "192.0.2.5"}).json()["client"] == (
            "192.0.2.5"
        )
    with pytest.raises(ConfigurationError, match="not an address"):
        make_app(trusted=["nonsense"]).compile()
    with pytest.raises(ConfigurationError, match="x-forwarded"):
        make_app(headers="x-real-ip").compile()


def test_websockets_get_wss() -> None:
    app = make_app()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.scope["scheme"])

    with (
        TestClient(app) as client,
        client.websocket_connect("/ws", headers={"x-forwarded-proto": "https"}) as connection,
    ):
        assert connection.receive_text() == "wss"


SPOOFED = {
    "x-forwarded-for": "6.6.6.6, 203.0.113.7",
    "x-forwarded-proto": "https",
    "x-forwarded-host": "shop.example",
    "x-forwarded-prefix": "/shop",
}


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_one_rule_under_every_server(live_server: type[LiveServer], server: str) -> None:
    """Without --trusted-proxy no server believes the headers (uvicorn alone would trust
    127.0.0.1); with it, both apply them the same way."""
    plain = live_server("tests.apps.proxy_app:app", "--server", server)
    seen = httpx.get(f"{plain.url}/where", headers=SPOOFED).json()
    assert seen == {
        "client": "127.0.0.1",
        "url": f"http://127.0.0.1:{plain.port}/where",
        "link": "/where",
    }
    behind = live_server(
        "tests.apps.proxy_app:app", "--server", server, "--trusted-proxy", "127.0.0.1"
    )
    seen = httpx.get(f"{behind.url}/where", headers=SPOOFED).json()
    assert seen == {  # the prefix the proxy stripped is the root_path under both
        "client": "203.0.113.7",
        "url": "https://shop.example/shop/where",
        "link": "/shop/where",
    }
