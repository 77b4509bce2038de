"""Swagger UI in a real browser: Debian's headless Chromium, driven over the DevTools protocol.

The example app runs under ``carafe run`` on loopback with the viewer's scripts served
by the app itself (the ``docs`` extra, openapi-ui-bundles), so the pages work with no
network at all: every test checks that nothing was loaded from anywhere else.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from carafe.openapi.docs import find_assets
from tests.browser import Browser

pytestmark = pytest.mark.slow


def wait_for(browser: Browser, expression: str, timeout: float = 20.0) -> Any:
    """The first truthy value of ``expression``, polled; the page's text if none comes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = browser.evaluate(expression)
        if value:
            return value
        time.sleep(0.1)
    page = browser.evaluate("document.body.innerText")
    raise AssertionError(f"timed out waiting for: {expression}\n--- page ---\n{page}")


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    with Browser(chromium, tmp_path / "profile") as opened:
        yield opened


def loaded(browser: Browser) -> list[str]:
    """Every URL the page loaded (scripts, styles, images, fetches)."""
    resources = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert resources, "no resources were loaded"
    return list(resources)


def assert_all_from(origin: str, resources: list[str]) -> None:
    """Nothing came from a CDN or anywhere else: the page works offline."""
    elsewhere = [url for url in resources if not url.startswith(origin + "/")]
    assert not elsewhere, elsewhere


OPERATION = "/items/{item_id}"
FIND_BLOCK = f"""
[...document.querySelectorAll('.opblock-get')].find(
    b => b.querySelector('.opblock-summary-path')?.textContent.trim() === '{OPERATION}')
"""


def test_swagger_ui_lists_operations_and_tries_one_out(live_server: Any, browser: Browser) -> None:
    if find_assets("swagger") is None:
        pytest.fail("the docs extra (openapi-ui-bundles) is not installed")
    server = live_server("examples.api:app")
    browser.open(f"{server.url}/docs")

    # The operations render from the document.
    count = wait_for(
        browser,
        "document.querySelectorAll('.opblock').length >= 10 && "
        "document.querySelectorAll('.opblock').length",
    )
    assert count == 10
    paths = browser.evaluate(
        "[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent.trim())"
    )
    assert {"/items", OPERATION, "/token", "/me", "/contact"} <= set(paths)
    # Every script and stylesheet came from the app itself: nothing from a CDN.
    assert_all_from(server.url, loaded(browser))

    # Open GET /items/{item_id}, press "Try it out", fill in the id, press "Execute".
    browser.evaluate(
        f"(({FIND_BLOCK}).querySelector('.opblock-summary-control') || "
        f"({FIND_BLOCK}).querySelector('.opblock-summary')).click()"
    )
    wait_for(browser, f"!!({FIND_BLOCK}).querySelector('.try-out__btn')")
    browser.evaluate(f"({FIND_BLOCK}).querySelector('.try-out__btn').click()")
    wait_for(browser, f"!!({FIND_BLOCK}).querySelector('input[placeholder=\"item_id\"]')")
    # Type the id as a user would: focus the field, then send the keystrokes.
    browser.send("Emulation.setFocusEmulationEnabled", enabled=True)
    box = browser.evaluate(
        f"(() => {{ const input = ({FIND_BLOCK}).querySelector('input[placeholder=\"item_id\"]');"
        " input.scrollIntoView({block: 'center'}); const r = input.getBoundingClientRect();"
        " return [r.x + r.width / 2, r.y + r.height / 2]; })()"
    )
    for kind in ("mousePressed", "mouseReleased"):
        browser.send(
            "Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1
        )
    browser.send("Input.insertText", text="1")
    # NOTE: Swagger UI debounces parameter inputs (300 ms) before it stores the value.
    time.sleep(1.0)
    wait_for(browser, f"!!({FIND_BLOCK}).querySelector('.execute')")
    browser.evaluate(f"({FIND_BLOCK}).querySelector('.execute').click()")

    # The response Swagger UI shows is the app's answer.
    row = f"({FIND_BLOCK}).querySelector('.live-responses-table tbody"
    status = wait_for(browser, f"{row} .response-col_status')?.textContent")
    assert status.strip().startswith("200"), status
    shown = wait_for(
        browser,
        f"({FIND_BLOCK}).querySelector('.live-responses-table tbody .microlight, "
        f".live-responses-table tbody pre')?.textContent",
    )
    assert json.loads(shown) == {"id": 1, "name": "kettle", "price": 24.5, "tags": ["kitchen"]}
    request_url = browser.evaluate(f"({FIND_BLOCK}).querySelector('.request-url pre')?.textContent")
    assert request_url == f"{server.url}/items/1"


def test_redoc_renders_offline(live_server: Any, browser: Browser) -> None:
    if find_assets("redoc") is None:
        pytest.fail("the docs extra (openapi-ui-bundles) is not installed")
    server = live_server("examples.api:app")
    browser.open(f"{server.url}/redoc")
    wait_for(browser, "document.body.innerText.includes('Trade a username and password')")
    title = browser.evaluate("document.querySelector('h1')?.textContent")
    assert title.startswith("Carafe example API")
    # ReDoc's bundle links Redocly's logo from Redocly's CDN; the app serves the script
    # with the package's own copy of the logo instead, and the logo is shown.
    logo = "document.querySelector('img[alt=\"redocly logo\"]')"
    assert wait_for(browser, f"{logo}?.complete && {logo}.naturalWidth")
    assert browser.evaluate(f"{logo}.src") == f"{server.url}/docs-assets/logo-mini.svg"
    resources = loaded(browser)
    assert f"{server.url}/docs-assets/redoc.standalone.js" in resources
    assert_all_from(server.url, resources)


# What Swagger UI leaves on its page when an OAuth2 login opens the popup (``authPopup``
# in its bundle), and what it does with the answer: a code goes back through
# ``callback``, a refusal through ``errCb``.
START_LOGIN = """
window.answers = [];
window.startLogin = (flow, answer) => {
  window.swaggerUIRedirectOauth2 = {
    auth: {name: "oauth", schema: new Map([["flow", flow]])},
    state: "s3cr3t",
    redirectUrl: location.origin + "/docs/oauth2-redirect",
    callback: (done) => answers.push(
      {code: done.auth.code, token: done.token, redirectUrl: done.redirectUrl}),
    errCb: (error) => answers.push({error: error.message, authId: error.authId}),
  };
  window.popup = window.open("/docs/oauth2-redirect" + answer);
  return !!window.popup;
};
"""


def test_swagger_oauth2_redirect_hands_back_the_answer(live_server: Any, browser: Browser) -> None:
    server = live_server("examples.api:app")
    browser.open(f"{server.url}/docs")
    browser.evaluate(START_LOGIN)
    redirect_url = f"{server.url}/docs/oauth2-redirect"

    def login(flow: str, answer: str) -> Any:
        # A popup needs a user's gesture, as the Authorize button's click is.
        opened = browser.send(
            "Runtime.evaluate",
            expression=f"startLogin({json.dumps(flow)}, {json.dumps(answer)})",
            userGesture=True,
            returnByValue=True,
        )
        assert opened["result"]["value"] is True
        wait_for(browser, "answers.length === 1 && popup.closed")
        return browser.evaluate("answers.pop()")

    assert login("authorizationCode", "?code=abc%2F1&state=s3cr3t") == {
        "code": "abc/1",
        "redirectUrl": redirect_url,
    }
    assert login("implicit", "#access_token=t0k&token_type=bearer&state=s3cr3t") == {
        "token": {"access_token": "t0k", "token_type": "bearer", "state": "s3cr3t"},
        "redirectUrl": redirect_url,
    }
    # Another state (a forged answer) is refused, as is a refusal from the server.
    assert login("authorizationCode", "?code=evil&state=forged") == {
        "error": "The authorization server answered with another state; the login was refused.",
        "authId": "oauth",
    }
    assert login("authorizationCode", "?error=access_denied&error_description=No&state=s3cr3t") == {
        "error": "access_denied: No",
        "authId": "oauth",
    }
    assert browser.evaluate("window.swaggerUIRedirectOauth2") is None  # cleared after use
    assert_all_from(server.url, loaded(browser))
