"""Chapter 2's tests: each one starts from an empty list of to-dos."""

from collections.abc import Iterator

import pytest
from app import app, todos

from carafe.testing import TestClient


@pytest.fixture
def client() -> Iterator[TestClient]:
    todos.clear()  # the to-dos live in memory: start every test from none
    with TestClient(app) as client:
        yield client


def test_create_then_read(client: TestClient) -> None:
    created = client.post("/todos", json={"title": "buy milk"})
    assert created.status_code == 201
    assert created.json() == {"id": 1, "title": "buy milk", "done": False}
    assert client.get("/todos/1").json()["title"] == "buy milk"


def test_filter_by_done(client: TestClient) -> None:
    client.post("/todos", json={"title": "tea", "done": True})
    client.post("/todos", json={"title": "cake"})
    assert [todo["title"] for todo in client.get("/todos?done=true").json()] == ["tea"]
    assert [todo["title"] for todo in client.get("/todos?done=false").json()] == ["cake"]
    assert len(client.get("/todos").json()) == 2


def test_a_missing_todo_is_a_404(client: TestClient) -> None:
    missing = client.get("/todos/99")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["detail"] == "No to-do 99"


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"done": True}, ["body", "title"]),
        ({"title": 3}, ["body", "title"]),
        ({"title": "tea", "done": "maybe"}, ["body", "done"]),
    ],
)
def test_bad_input_is_a_clear_error(
    client: TestClient, body: dict[str, object], where: list[str]
) -> None:
    problem = client.post("/todos", json=body)
    assert problem.status_code == 422
    assert [error["loc"] for error in problem.json()["errors"]] == [where]


def test_the_api_is_described(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths) == {"/todos", "/todos/{todo_id}"}
