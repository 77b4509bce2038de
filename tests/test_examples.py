"""examples/demo.py, the small app the CLI guide and tests run, behaves as they say."""

from __future__ import annotations

from examples.demo import app

from carafe.testing import TestClient


def test_demo_pages() -> None:
    with TestClient(app) as client:
        index = client.get("/")
        assert index.headers["content-type"] == "text/html; charset=utf-8"
        assert "<h1>Carafe is running</h1>" in index.text
        assert client.get("/items/1").json() == {
            "name": "kettle",
            "price": 24.5,
            "tags": ["kitchen"],
        }
        assert client.get("/items/99").status_code == 404
        assert client.get("/items/one").status_code == 422
        created = client.post("/items", json={"name": "cup", "price": 3})
        assert created.status_code == 201
        item_id = created.json()["id"]
        assert client.get(f"/items/{item_id}").json()["name"] == "cup"
        assert client.get("/api/health").json() == {"status": "ok"}
