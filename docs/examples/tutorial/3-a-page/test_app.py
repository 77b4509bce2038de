"""Chapter 3's tests: the API as before, and the page a browser sees."""

from collections.abc import Iterator

import pytest
from app import app, todos

from carafe.testing import TestClient


@pytest.fixture
def client() -> Iterator[TestClient]:
    todos.clear()
    with TestClient(app) as client:
        yield client


def test_the_api_still_works(client: TestClient) -> None:
    assert client.post("/todos", json={"title": "tea"}).json() == {
        "id": 1,
        "title": "tea",
        "done": False,
    }
    assert client.post("/todos", json={"title": ""}).status_code == 422


def test_the_page_lists_the_todos(client: TestClient) -> None:
    assert "<li>Nothing to do.</li>" in client.get("/").text
    client.post("/todos", json={"title": "<b>bold</b>"})
    page = client.get("/")
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert "<li>&lt;b&gt;bold&lt;/b&gt;</li>" in page.text  # escaped, not markup


def test_the_form_adds_and_flashes(client: TestClient) -> None:
    page = client.post("/add", data={"title": "buy milk"})  # follows the redirect
    assert page.url.path == "/"
    assert '<p class="flash">Added “buy milk”.</p>' in page.text
    assert "<li>buy milk</li>" in page.text
    assert "flash" not in client.get("/").text  # a flashed message is shown once


def test_an_empty_title_is_shown_again_with_a_message(client: TestClient) -> None:
    page = client.post("/add", data={"title": ""})
    assert page.status_code == 422
    assert '<span class="error">This field is required.</span>' in page.text
    assert todos == {}
