"""Chapter 4's tests: each test gets a database of its own, in a temporary folder."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from app import app, db

from carafe.testing import TestClient


# --8<-- [start:fixture]
@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'test.db'}"  # read at startup
    with TestClient(app) as client:
        client.run(db.create_all(app))  # the tables, on the app's event loop
        yield client


# --8<-- [end:fixture]


def test_created_todos_are_stored(client: TestClient) -> None:
    created = client.post("/todos", json={"title": "buy milk"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "title": "buy milk", "done": False}
    assert client.get("/todos/1").json()["title"] == "buy milk"
    assert client.get("/todos/2").status_code == 404


def test_filter_by_done(client: TestClient) -> None:
    client.post("/todos", json={"title": "tea", "done": True})
    client.post("/todos", json={"title": "cake"})
    assert [todo["title"] for todo in client.get("/todos?done=true").json()] == ["tea"]
    assert [todo["title"] for todo in client.get("/todos").json()] == ["tea", "cake"]


def test_the_form_adds_to_the_database(client: TestClient) -> None:
    page = client.post("/add", data={"title": "walk the dog"})
    assert '<p class="flash">Added “walk the dog”.</p>' in page.text
    assert client.get("/todos").json() == [{"id": 1, "title": "walk the dog", "done": False}]
    assert client.post("/add", data={"title": ""}).status_code == 422


def test_each_test_starts_empty(client: TestClient) -> None:
    assert client.get("/todos").json() == []
