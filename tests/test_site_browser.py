"""The example site end to end: headless Chromium, ``carafe run`` (uvicorn), a real Redis.

A visitor signs up, lands on the protected page, submits the profile form with a mistake
and sees the error, fixes it, logs out, is turned away from the protected page, and logs
in again. Sessions live in Redis; the test looks the session key up there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import Browser

pytestmark = pytest.mark.slow


def session_cookie(browser: Browser) -> dict[str, Any]:
    found = [c for c in browser.cookies() if c["name"] == "session"]
    assert len(found) == 1
    return found[0]


def test_a_visitor_signs_up_edits_the_profile_logs_out_and_in(
    chromium: str, redis_url: str, live_server: Any, tmp_path: Path
) -> None:
    from redis import Redis

    server = live_server("examples.site.app:app", env={"CARAFE_SESSION_REDIS_URL": redis_url})
    redis = Redis.from_url(redis_url)
    with Browser(chromium, tmp_path / "profile") as browser:
        # Signing up logs the visitor in and shows the protected page with a welcome.
        browser.open(f"{server.url}/signup")
        assert browser.text("h1") == "Sign up"
        browser.fill("#name", "Ann")
        browser.fill("#email", "ann@example.com")
        browser.fill("#password", "correct horse")
        browser.click("#signup-form button[type=submit]")
        assert browser.url == f"{server.url}/account"
        assert browser.texts(".flash") == ["Welcome, Ann! Your account is ready."]
        assert browser.text("#account-email") == "ann@example.com"

        # The session is in Redis; the cookie holds only its id, HttpOnly and Lax.
        cookie = session_cookie(browser)
        assert cookie["httpOnly"] is True
        assert cookie["sameSite"] == "Lax"
        assert redis.exists(f"site:session:{cookie['value']}") == 1

        # A form with mistakes comes back with the errors, and the input kept.
        browser.open(f"{server.url}/profile")
        browser.fill("#website", "not a url")
        browser.fill("#age", "7")
        browser.fill("#bio", "<script>document.title='owned'</script>")
        browser.click("#profile-form button[type=submit]")
        assert browser.text("#website-error") == "This is not in the expected format."
        assert browser.text("#age-error") == "Enter 13 or more."
        assert browser.evaluate("document.querySelector('#website').value") == "not a url"
        assert browser.evaluate("document.title") != "owned"

        # Fixed, it is saved, with a flash message, once.
        browser.fill("#website", "https://ann.example")
        browser.fill("#age", "34")
        browser.click("#profile-form button[type=submit]")
        assert browser.url == f"{server.url}/account"
        assert browser.texts(".flash") == ["Your profile is saved."]
        assert browser.text("#account-website") == "https://ann.example"
        assert browser.text("#account-age") == "34"
        browser.open(f"{server.url}/account")
        assert browser.texts(".flash") == []

        # Logging out ends the session in Redis too.
        old_id = session_cookie(browser)["value"]
        browser.click("#logout")
        assert browser.texts(".flash") == ["You are logged out."]
        assert redis.exists(f"site:session:{old_id}") == 0

        # The protected page now sends the visitor to log in, and back after.
        browser.open(f"{server.url}/account")
        assert browser.url == f"{server.url}/login?next=/account"
        assert browser.texts(".flash") == ["Please log in to see that page."]
        browser.fill("#email", "ann@example.com")
        browser.fill("#password", "wrong password")
        browser.click("#login-form button[type=submit]")
        assert browser.text("#form-error") == "The email or the password is wrong."
        browser.fill("#password", "correct horse")
        browser.click("#login-form button[type=submit]")
        assert browser.url == f"{server.url}/account"
        assert browser.texts(".flash") == ["Hello again, Ann."]
        new_id = session_cookie(browser)["value"]
        assert new_id != old_id
        assert redis.exists(f"site:session:{new_id}") == 1
    redis.close()
