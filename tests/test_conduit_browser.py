"""Conduit's pages end to end: headless Chromium, ``carafe run`` (uvicorn), sessions in a
real Redis, the schema made by ``carafe db upgrade``.

A visitor signs up, writes an article, finds it on the home feed, signs out and in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from carafe.cli import main
from tests.browser import Browser

pytestmark = pytest.mark.slow


def upgrade(url: str) -> None:
    target = f"examples.conduit.app:create_app({{'DATABASE_URL': {url!r}}})"
    result = CliRunner().invoke(main, ["--app", target, "db", "upgrade"])
    assert result.exit_code == 0, result.output


def session_id(browser: Browser) -> str:
    found = [c for c in browser.cookies() if c["name"] == "session"]
    assert len(found) == 1
    assert found[0]["httpOnly"] is True and found[0]["sameSite"] == "Lax"
    return str(found[0]["value"])


def test_a_visitor_signs_up_writes_an_article_edits_the_profile_signs_out_and_in(
    chromium: str, redis_url: str, live_server: Any, tmp_path: Path
) -> None:
    from redis import Redis

    database = f"sqlite:///{tmp_path / 'conduit.db'}"
    upgrade(database)
    env = {
        "CARAFE_DATABASE_URL": database,
        "CARAFE_SECRET_KEY": "browser-test-" + "k" * 32,
        "CARAFE_SESSION_REDIS_URL": redis_url,
    }
    server = live_server("examples.conduit.app:app", env=env)
    redis = Redis.from_url(redis_url)
    with Browser(chromium, tmp_path / "profile") as browser:
        # Signing up: a mistake first, shown next to its field with the input kept.
        browser.open(server.url)
        browser.click("#nav-register")
        assert browser.text("h1") == "Sign up"
        browser.fill("#username", "Zoë Writer")
        browser.fill("#email", "zoe@example.org")
        browser.fill("#password", "correct horse")
        browser.click("#register-form button[type=submit]")
        assert browser.text("#username-error") == (
            "Use letters, digits, '.', '-' and '_' only, without spaces."
        )
        assert browser.evaluate("document.querySelector('#email').value") == "zoe@example.org"
        browser.fill("#username", "zoë")
        browser.fill("#password", "correct horse")
        browser.click("#register-form button[type=submit]")
        assert browser.url == f"{server.url}/"
        assert browser.texts(".flash") == ["Welcome to Conduit, zoë!"]
        assert browser.text("#nav-profile") == "zoë"
        signed_up = session_id(browser)
        assert redis.exists(f"conduit:session:{signed_up}") == 1

        # Writing an article; HTML in the body stays text.
        browser.click("#nav-editor")
        browser.fill("#title", "Grüße aus Köln")
        browser.fill("#description", "A first post")
        browser.fill("#body", "Hello **world** <script>document.title='owned'</script>")
        browser.fill("#tags", "greetings, köln")
        browser.click("#editor-form button[type=submit]")
        assert browser.texts(".flash") == ["Your article is published."]
        assert browser.text("#article-title") == "Grüße aus Köln"
        assert browser.evaluate("document.querySelector('#article-body strong').textContent") == (
            "world"
        )
        assert browser.evaluate("document.title") != "owned"

        # It is on the home feed, with its tag in the sidebar.
        browser.open(server.url)
        assert "Grüße aus Köln" in browser.texts(".preview h2")
        assert "köln" in browser.texts(".sidebar .tags a")

        # Settings: a bio, saved, shown on the profile page with the article.
        browser.click("#nav-settings")
        browser.fill("#bio", "Writes from Köln")
        browser.click("#settings-form button[type=submit]")
        assert browser.texts(".flash") == ["Your settings are saved."]
        assert browser.text("#profile-name") == "zoë"
        assert browser.text("#profile-bio") == "Writes from Köln"
        assert "Grüße aus Köln" in browser.texts(".preview h2")

        # Signing out ends the session in Redis; the editor then asks to sign in.
        browser.click("#nav-settings")
        browser.click("#logout")
        assert browser.texts(".flash") == ["You are signed out."]
        assert redis.exists(f"conduit:session:{signed_up}") == 0
        browser.open(f"{server.url}/editor")
        assert browser.url == f"{server.url}/login?next=/editor"
        assert browser.texts(".flash") == ["Sign in to see that page."]

        # Signing in (a wrong password first) goes back to the editor, with a new session.
        browser.fill("#email", "zoe@example.org")
        browser.fill("#password", "wrong password")
        browser.click("#login-form button[type=submit]")
        assert browser.text("#form-error") == "The email or the password is wrong."
        browser.fill("#password", "correct horse")
        browser.click("#login-form button[type=submit]")
        assert browser.url == f"{server.url}/editor"
        assert browser.texts(".flash") == ["Welcome back, zoë."]
        assert session_id(browser) != signed_up
    redis.close()
