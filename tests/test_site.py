"""The example site, in-process: every flow a visitor goes through, and hostile input."""

from __future__ import annotations

import importlib
import json
import logging
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any

import pytest

from carafe.testing import TestClient
from tests.conftest import RedisProcess


@pytest.fixture
def site() -> Any:
    import examples.site.app as module

    return importlib.reload(module)  # a fresh app: no users, no sessions


@pytest.fixture
def client(site: Any) -> Iterator[TestClient]:
    with TestClient(site.app) as client:
        yield client


def token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def errors(html: str) -> dict[str, str]:
    return dict(re.findall(r'class="error" id="([\w-]+)-error">([^<]*)<', html))


def flashes(html: str) -> list[str]:
    return re.findall(r'<p class="flash [^"]*" role="status">([^<]*)</p>', html)


def sign_up(client: TestClient, name: str = "Ann", email: str = "ann@example.com") -> Any:
    form = {"name": name, "email": email, "password": "correct horse"}
    form["csrf_token"] = token(client.get("/signup").text)
    return client.post("/signup", data=form)


def test_sign_up_lands_on_the_account_page_with_a_welcome(client: TestClient) -> None:
    page = sign_up(client, name="Ann <b>")
    assert page.status_code == 200
    assert str(page.url) == "http://testserver/account"
    assert flashes(page.text) == ["Welcome, Ann &lt;b&gt;! Your account is ready."]
    assert '<dd id="account-email">ann@example.com</dd>' in page.text
    # Shown once: the next page has no flash.
    assert flashes(client.get("/account").text) == []


def test_sign_up_errors_are_shown_on_the_form(client: TestClient) -> None:
    csrf = token(client.get("/signup").text)
    page = client.post(
        "/signup", data={"csrf_token": csrf, "name": "", "email": "nope", "password": "short"}
    )
    assert page.status_code == 422
    assert errors(page.text) == {
        "name": "This field is required.",
        "email": "This is not in the expected format.",
        "password": "Use at least 8 characters.",
    }
    assert 'value="nope"' in page.text  # the form is filled in again...
    assert "short" not in page.text  # ...but never with the password


def test_an_email_is_taken_once(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    page = sign_up(client, email="ANN@example.com")
    assert page.status_code == 422
    assert errors(page.text)["email"].startswith("An account with this email exists")


def test_log_out_and_in_again_with_a_new_session_id(client: TestClient) -> None:
    account = sign_up(client)
    first_id = client.cookies["session"]
    home = client.post("/logout", data={"csrf_token": token(account.text)})
    assert str(home.url) == "http://testserver/"
    assert flashes(home.text) == ["You are logged out."]
    assert client.cookies.get("session") != first_id
    assert "/login?next=/account" in str(client.get("/account").url)

    login = client.get("/login?next=/profile")
    before = client.cookies.get("session")  # None: an anonymous visitor keeps no session
    page = client.post(
        "/login",
        data={
            "csrf_token": token(login.text),
            "email": "ann@example.com",
            "password": "correct horse",
            "next": "/profile",
        },
    )
    assert str(page.url) == "http://testserver/profile"
    assert flashes(page.text) == ["Hello again, Ann."]
    assert client.cookies["session"] != before  # rotated at login: no fixation


def test_wrong_credentials_are_one_message(client: TestClient) -> None:
    sign_up(client)
    client.cookies.clear()
    for email, password in (("ann@example.com", "wrong password"), ("who@example.com", "x")):
        page = client.get("/login")
        answer = client.post(
            "/login",
            data={"csrf_token": token(page.text), "email": email, "password": password},
        )
        assert answer.status_code == 401
        assert "The email or the password is wrong." in answer.text
    empty = client.post("/login", data={"csrf_token": token(client.get("/login").text)})
    assert empty.status_code == 422


def test_the_protected_page_sends_visitors_to_log_in(client: TestClient) -> None:
    answer = client.get("/account", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/account"
    page = client.get("/login?next=/account")
    assert flashes(page.text) == ["Please log in to see that page."]
    assert client.get("/profile", follow_redirects=False).status_code == 303


def test_next_never_leaves_the_site(site: Any) -> None:
    assert site.safe_next("//evil.example/x") == "/account"
    assert site.safe_next("https://evil.example") == "/account"
    assert site.safe_next("/\\evil.example") == "/account"
    assert site.safe_next("/profile") == "/profile"
    assert site.safe_next(None) == "/account"


def test_profile_errors_and_hostile_input_are_escaped(client: TestClient) -> None:
    account = sign_up(client)
    hostile = {
        "csrf_token": token(account.text),
        "name": "{{7*7}}",
        "bio": "<script>alert(1)</script>",
        "website": "javascript:alert(1)",
        "age": "5",
    }
    page = client.post("/profile", data=hostile)
    assert page.status_code == 422
    assert errors(page.text) == {
        "website": "This is not in the expected format.",
        "age": "Enter 13 or more.",
    }
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>" not in page.text
    hostile.update(website="https://ann.example", age="", csrf_token=token(page.text))
    saved = client.post("/profile", data=hostile)
    assert flashes(saved.text) == ["Your profile is saved."]
    assert '<dd id="account-name">{{7*7}}</dd>' in saved.text
    assert ">49<" not in saved.text  # (random tokens on the page may contain "49")
    assert '<dd id="account-age">(not given)</dd>' in saved.text
    form = client.get("/profile").text
    assert 'value="https://ann.example"' in form


class Scripts(HTMLParser):
    """The text of every <script> element of a page, as a browser would cut it."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.inside = False
        self.bodies: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "script":
            self.inside = True
            self.bodies.append("")

    def handle_endtag(self, tag: str) -> None:
        self.inside = self.inside and tag != "script"

    def handle_data(self, data: str) -> None:
        if self.inside:
            self.bodies[-1] += data


def test_data_in_the_account_script_stays_inert(client: TestClient) -> None:
    hostile = "</script><script>alert(1)</script>"
    page = sign_up(client, name=hostile).text
    assert hostile not in page
    (script,) = Scripts(page).bodies  # the hostile name opened no script of its own
    found = re.search(r"const account = (.*);\n", script)
    assert found is not None
    assert json.loads(found.group(1)) == {"name": hostile, "bio": ""}


def test_posts_without_the_csrf_token_are_refused(client: TestClient) -> None:
    account = sign_up(client)
    for path, data in (
        ("/logout", {}),
        ("/profile", {"name": "Mallory"}),
        ("/signup", {"name": "x", "email": "m@example.com", "password": "longenough"}),
    ):
        refused = client.post(path, data={**data, "csrf_token": "forged"})
        assert refused.status_code == 403
    assert '<dd id="account-name">Ann</dd>' in client.get("/account").text
    assert "Log out" in account.text


def test_tampered_session_cookies_mean_logged_out(client: TestClient) -> None:
    sign_up(client)
    real = client.cookies["session"]
    for value in (real[:-1] + ("A" if real[-1] != "A" else "B"), "x" * 4000, "<script>"):
        client.cookies.clear()
        client.cookies.set("session", value, domain="testserver.local")
        answer = client.get("/account", follow_redirects=False)
        assert answer.status_code == 303


def test_pages_carry_vary_cookie_and_the_stylesheet(client: TestClient) -> None:
    home = client.get("/")
    assert "Cookie" in home.headers["vary"]
    assert '<link rel="stylesheet" href="/static/site.css">' in home.text
    assert client.get("/static/site.css").headers["content-type"].startswith("text/css")


def test_session_store_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import examples.site.app as module

    from carafe.web.sessions import MemoryStore, RedisStore

    monkeypatch.setenv("CARAFE_SESSION_REDIS_URL", "redis://127.0.0.1:1/0")
    assert isinstance(module.session_store(), RedisStore)
    monkeypatch.delenv("CARAFE_SESSION_REDIS_URL")
    assert isinstance(module.session_store(), MemoryStore)


def log_in(client: TestClient) -> Any:
    form = {"email": "ann@example.com", "password": "correct horse"}
    form["csrf_token"] = token(client.get("/login").text)
    return client.post("/login", data=form)


def test_with_its_redis_stopped_the_site_answers_503_and_recovers(
    own_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """#12 measured this site answering 500 with a traceback for every logged-in page and
    an anonymous ``GET /login`` while Redis was down. Now what needs a session is a 503,
    and the login form, which stores nothing for an anonymous visitor, is still served."""
    import examples.site.app as module

    monkeypatch.setenv("CARAFE_SESSION_REDIS_URL", own_redis.url)
    site = importlib.reload(module)
    try:
        with caplog.at_level(logging.WARNING), TestClient(site.app) as member:
            assert sign_up(member).status_code == 200
            with TestClient(site.app) as visitor:
                own_redis.kill()
                refused = [member.get("/account"), member.get("/")]
                form = visitor.get("/login")
                refused.append(log_in(visitor))  # logging in must save a session
                own_redis.start()  # empty: without persistence the sessions are gone
                back = log_in(visitor)
    finally:
        monkeypatch.delenv("CARAFE_SESSION_REDIS_URL")
        importlib.reload(module)  # the next tests get the memory store again
    for response in refused:
        assert response.status_code == 503, (response.url, response.status_code)
        assert response.headers["retry-after"] == "5"
        assert "Sessions are unavailable right now" in response.text
        assert "Traceback" not in response.text
    assert form.status_code == 200 and 'name="csrf_token"' in form.text
    assert back.status_code == 200 and str(back.url) == "http://testserver/account"
    assert "Traceback" not in caplog.text


def test_ten_login_tries_a_minute_then_the_form_says_when_to_try_again(
    client: TestClient,
) -> None:
    sign_up(client)
    client.post("/logout", data={"csrf_token": token(client.get("/account").text)})
    csrf = token(client.get("/login").text)
    wrong = {"csrf_token": csrf, "email": "ann@example.com", "password": "not the one"}
    tries = [client.post("/login", data=wrong) for _ in range(10)]
    refused = client.post("/login", data={**wrong, "password": "correct horse"})
    assert [r.status_code for r in tries] == [401] * 10
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("text/html")
    wait = int(refused.headers["retry-after"])
    assert 1 <= wait <= 60
    assert f"Too many tries. Try again in {wait} seconds." in refused.text
    assert client.get("/login").status_code == 200  # the form itself is not limited
