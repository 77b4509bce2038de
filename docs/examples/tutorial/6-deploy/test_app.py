"""Chapter 6's tests: chapter 5's, on the app configured from the environment."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from app import app, check_password, db, hash_password

from carafe.testing import TestClient


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    app.config["DATABASE_URL"] = f"sqlite:///{tmp_path / 'test.db'}"
    with TestClient(app) as client:
        client.run(db.create_all(app))
        yield client


def token(page: str) -> str:
    """The CSRF token a page carries, as a browser would send it back."""
    found = re.search(r'name="csrf-token" content="([^"]+)"', page)
    assert found, page
    return found.group(1)


def sign_up(client: TestClient, email: str = "ann@example.com") -> str:
    form = client.get("/signup").text
    data = {"csrf_token": token(form), "email": email, "password": "correct horse"}
    page = client.post("/signup", data=data)
    assert page.status_code == 200, page.text
    return page.text


def test_passwords_are_hashed() -> None:
    stored = hash_password("correct horse")
    assert stored.startswith("scrypt$") and "correct horse" not in stored
    assert check_password("correct horse", stored)
    assert not check_password("wrong horse", stored)
    assert hash_password("correct horse") != stored  # a new salt each time


def test_the_page_needs_a_login(client: TestClient) -> None:
    page = client.get("/")  # redirected
    assert page.url.path == "/login"
    assert page.url.query == b"next=/"
    assert '<p class="flash">Please log in first.</p>' in page.text


def test_sign_up_then_add_a_todo(client: TestClient) -> None:
    page = sign_up(client)
    assert '<p class="flash">Welcome!</p>' in page
    assert "ann@example.com" in page
    added = client.post("/add", data={"csrf_token": token(page), "title": "buy milk"})
    assert "<li>buy milk</li>" in added.text


def test_log_out_then_in(client: TestClient) -> None:
    page = sign_up(client)
    out = client.post("/logout", data={"csrf_token": token(page)})
    assert '<p class="flash">Logged out.</p>' in out.text
    assert client.get("/").url.path == "/login"
    form = client.get("/login?next=/").text
    wrong = {"csrf_token": token(form), "email": "ann@example.com", "password": "nope"}
    assert client.post("/login", data=wrong).status_code == 401
    right = {**wrong, "password": "correct horse", "next": "/"}
    assert "ann@example.com" in client.post("/login", data=right).text


def test_one_account_per_email(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    form = client.get("/signup").text
    data = {"csrf_token": token(form), "email": "ANN@example.com", "password": "another one"}
    again = client.post("/signup", data=data)
    assert again.status_code == 422
    assert "That email already has an account." in again.text


def test_forms_without_the_token_are_refused(client: TestClient) -> None:
    page = sign_up(client)
    refused = client.post("/add", data={"title": "forged"})
    assert refused.status_code == 403
    assert "forged" not in client.get("/").text
    assert client.post("/add", data={"csrf_token": token(page), "title": "real"}).is_success


def test_the_api_writes_for_logged_in_users_only(client: TestClient) -> None:
    anonymous = token(client.get("/login").text)
    headers = {"X-CSRF-Token": anonymous}
    assert client.post("/todos", json={"title": "tea"}, headers=headers).status_code == 401
    page = sign_up(client)
    assert client.post("/todos", json={"title": "tea"}).status_code == 403  # no token
    created = client.post("/todos", json={"title": "tea"}, headers={"X-CSRF-Token": token(page)})
    assert created.status_code == 201
    assert client.get("/todos").json() == [created.json()]


def test_next_stays_on_this_site(client: TestClient) -> None:
    page = client.get("/login?next=//evil.example/")
    assert 'name="next" value="/"' in page.text
