"""The worked ports of docs/coming-from-flask.md and docs/coming-from-fastapi.md.

``docs/examples/port_flask_before.py`` is a real Flask app and ``port_flask_after.py`` its
Carafe port; the same for FastAPI. Each test sends the same requests to the original
(through its own test client: Flask's, FastAPI's) and to the port (Carafe's
``TestClient``) and compares what a client sees. Where the pages say the answers differ
(Carafe's validation errors, its problem+json bodies), the tests assert that difference.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest

from carafe.testing import TestClient


def fresh(name: str) -> ModuleType:
    """The example module, imported anew: each test starts from its initial items."""
    sys.modules.pop(f"docs.examples.{name}", None)
    return importlib.import_module(f"docs.examples.{name}")


class Answer:
    """What a client sees of one response, whichever test client got it."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status = status
        self.type = headers.get("content-type")
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        import json

        return json.loads(self.body)


# --- Flask ----------------------------------------------------------------------------


@pytest.fixture
def flask_pair() -> Iterator[tuple[Any, TestClient]]:
    before, after = fresh("port_flask_before"), fresh("port_flask_after")
    with TestClient(after.app) as carafe_client:
        yield before.app.test_client(), carafe_client


def ask_both(pair: tuple[Any, TestClient], method: str, url: str, **kw: Any) -> list[Answer]:
    flask_client, carafe_client = pair
    original = getattr(flask_client, method)(url, **kw)
    if kw.pop("follow_redirects", False):
        kw["follow_redirects"] = True
    port = getattr(carafe_client, method)(url, **kw)
    return [
        Answer(original.status_code, original.headers, original.get_data()),
        Answer(port.status_code, port.headers, port.content),
    ]


SAME_FLASK = [
    ("get", "/items", {}),
    ("get", "/items?max_price=2", {}),
    ("get", "/items?max_price=5", {}),
    ("get", "/items/1", {}),
    ("get", "/items/9", {}),
    ("post", "/items", {"json": {"name": "pot", "price": 12}}),
]


@pytest.mark.parametrize(("method", "url", "kw"), SAME_FLASK)
def test_the_flask_port_answers_the_same(
    flask_pair: tuple[Any, TestClient], method: str, url: str, kw: dict[str, Any]
) -> None:
    original, port = ask_both(flask_pair, method, url, **kw)
    assert (port.status, port.type, port.json()) == (
        original.status,
        original.type,
        original.json(),
    )
    assert port.headers["x-served-by"] == original.headers["x-served-by"] == "shop"


def test_the_flask_port_creates_then_reads(flask_pair: tuple[Any, TestClient]) -> None:
    for method, url, kw in [
        ("post", "/items", {"json": {"name": "pot", "price": 12.5}}),
        ("get", "/items/2", {}),
        ("get", "/items", {}),
    ]:
        original, port = ask_both(flask_pair, method, url, **kw)
        assert (port.status, port.json()) == (original.status, original.json())


def test_the_flask_port_keeps_the_cart(flask_pair: tuple[Any, TestClient]) -> None:
    """The session, the flash message and the template: the same page after a POST."""
    flask_client, carafe_client = flask_pair
    for expected in (1, 2):
        original = flask_client.post("/cart", follow_redirects=True)
        port = carafe_client.post("/cart")  # httpx's client follows redirects here
        assert port.text == original.get_data(as_text=True)
        assert f"<p>{expected} in the cart</p>" in port.text
        assert '<p class="flash">Added to the cart.</p>' in port.text
    shown_again = carafe_client.get("/cart").text
    assert shown_again == flask_client.get("/cart").get_data(as_text=True)
    assert "flash" not in shown_again


def test_where_the_flask_port_answers_differently(flask_pair: tuple[Any, TestClient]) -> None:
    """What docs/coming-from-flask.md lists under "What a client notices"."""
    # A bad body: Flask's hand-written 400, Carafe's 422 naming each wrong field.
    original, port = ask_both(flask_pair, "post", "/items", json={"name": "pot"})
    assert (original.status, port.status) == (400, 422)
    assert [error["loc"] for error in port.json()["errors"]] == [["body", "price"]]
    # A path value that does not convert: Flask's 404 (no route), Carafe's 422.
    original, port = ask_both(flask_pair, "get", "/items/abc")
    assert (original.status, port.status) == (404, 422)
    # The router's own 404: the port's 404 handler answers it, the after_request hook
    # does not see it (hooks run for the app's routes; middleware sees every request).
    original, port = ask_both(flask_pair, "get", "/nope")
    assert (original.status, port.status) == (404, 404)
    assert port.json() == {"error": "Nothing is at /nope."}
    assert "x-served-by" in original.headers and "x-served-by" not in port.headers


# --- FastAPI --------------------------------------------------------------------------


@pytest.fixture
def fastapi_pair() -> Iterator[tuple[Any, Any, TestClient, TestClient]]:
    with warnings.catch_warnings():
        # Starlette's test client warns, on import, that it would rather have httpx2.
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient as FastAPIClient
    before, after = fresh("port_fastapi_before"), fresh("port_fastapi_after")
    with FastAPIClient(before.app) as fastapi_client, TestClient(after.app) as carafe_client:
        yield before, after, fastapi_client, carafe_client


KEY = {"x-api-key": "s3cret"}
SAME_FASTAPI = [
    ("get", "/api/items", {}),
    ("get", "/api/items?limit=1", {}),
    ("get", "/api/items/1", {}),
    ("post", "/api/items", {"json": {"name": "pot", "price": 12}, "headers": KEY}),
]


@pytest.mark.parametrize(("method", "url", "kw"), SAME_FASTAPI)
def test_the_fastapi_port_answers_the_same(
    fastapi_pair: tuple[Any, Any, TestClient, TestClient],
    method: str,
    url: str,
    kw: dict[str, Any],
) -> None:
    _, _, fastapi_client, carafe_client = fastapi_pair
    original = getattr(fastapi_client, method)(url, **kw)
    port = getattr(carafe_client, method)(url, **kw)
    assert (port.status_code, port.json()) == (original.status_code, original.json())
    assert port.headers["content-type"] == original.headers["content-type"]


ERRORS = [
    ("get", "/api/items/9", {}, 404),
    (
        "post",
        "/api/items",
        {"json": {"name": "pot", "price": 1}, "headers": {"x-api-key": "no"}},
        401,
    ),
]


@pytest.mark.parametrize(("method", "url", "kw", "status"), ERRORS)
def test_the_fastapi_ports_errors_keep_their_detail(
    fastapi_pair: tuple[Any, Any, TestClient, TestClient],
    method: str,
    url: str,
    kw: dict[str, Any],
    status: int,
) -> None:
    """``{"detail": ...}`` becomes problem+json with the same ``detail``."""
    _, _, fastapi_client, carafe_client = fastapi_pair
    original = getattr(fastapi_client, method)(url, **kw)
    port = getattr(carafe_client, method)(url, **kw)
    assert port.status_code == original.status_code == status
    assert port.headers["content-type"] == "application/problem+json"
    assert port.json()["detail"] == original.json()["detail"]
    assert port.json()["status"] == status


BAD_INPUT = [
    ("get", "/api/items?limit=0", {}),
    ("get", "/api/items/abc", {}),
    ("post", "/api/items", {"json": {"name": "", "price": -1}, "headers": KEY}),
    ("post", "/api/items", {"json": {"name": "pot", "price": 1}}),  # no API key header
]


@pytest.mark.parametrize(("method", "url", "kw"), BAD_INPUT)
def test_the_fastapi_ports_validation_errors_name_the_same_fields(
    fastapi_pair: tuple[Any, Any, TestClient, TestClient],
    method: str,
    url: str,
    kw: dict[str, Any],
) -> None:
    """FastAPI's ``detail: [{loc, msg, type}]`` is Carafe's ``errors: [{loc, msg, type}]``."""
    _, _, fastapi_client, carafe_client = fastapi_pair
    original = getattr(fastapi_client, method)(url, **kw)
    port = getattr(carafe_client, method)(url, **kw)
    assert port.status_code == original.status_code == 422
    assert [e["loc"] for e in port.json()["errors"]] == [
        e["loc"] for e in original.json()["detail"]
    ]


def test_the_fastapi_ports_schema(
    fastapi_pair: tuple[Any, Any, TestClient, TestClient],
) -> None:
    _, _, fastapi_client, carafe_client = fastapi_pair
    paths = [
        client.get("/openapi.json").json()["paths"] for client in (fastapi_client, carafe_client)
    ]
    assert sorted(paths[1]) == sorted(paths[0]) == ["/api/items", "/api/items/{item_id}"]
    assert paths[1]["/api/items"]["get"]["tags"] == paths[0]["/api/items"]["get"]["tags"]


def test_the_fastapi_ports_background_task(
    fastapi_pair: tuple[Any, Any, TestClient, TestClient],
) -> None:
    """Both run the task after the response. Starlette's test client waits for it before
    it returns the response; Carafe runs it on its own, and the app's shutdown waits."""
    before, _, fastapi_client, _ = fastapi_pair
    new = {"json": {"name": "pot", "price": 2}, "headers": KEY}
    assert fastapi_client.post("/api/items", **new).is_success
    after = fresh("port_fastapi_after")
    with TestClient(after.app) as client:
        assert client.post("/api/items", **new).is_success
    assert before.STORE.log == after.STORE.log == ["created pot"]
