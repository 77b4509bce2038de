"""Swagger UI in a real browser: Debian's headless Chromium, driven over the DevTools protocol.

The example app runs under ``carafe run`` on loopback with the viewer's scripts served
by the app itself (the ``docs`` extra), so the page works with no network at all.
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


OPERATION = "/items/{item_id}"
FIND_BLOCK = f"""
[...document.querySelectorAll('.opblock-get')].find(
    b => b.querySelector('.opblock-summary-path')?.textContent.trim() === '{OPERATION}')
"""


def test_swagger_ui_lists_operations_and_tries_one_out(live_server: Any, browser: Browser) -> None:
    if find_assets("swagger") is None:
        pytest.fail("the docs extra (drf-spectacular-sidecar) is not installed")
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
    resources = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    assert resources, "no resources were loaded"
    assert all(url.startswith(server.url) for url in resources), resources

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
        pytest.fail("the docs extra (drf-spectacular-sidecar) is not installed")
    server = live_server("examples.api:app")
    browser.open(f"{server.url}/redoc")
    wait_for(browser, "document.body.innerText.includes('Trade a username and password')")
    title = browser.evaluate("document.querySelector('h1')?.textContent")
    assert title.startswith("Carafe example API")
    resources = browser.evaluate("performance.getEntriesByType('resource').map(e => e.name)")
    # NOTE: ReDoc's bundle links Redocly's logo from its CDN; the image hides itself when
    # that fails (onError), so offline the page only lacks the logo. Everything else,
    # scripts and the document included, came from the app.
    elsewhere = {url for url in resources if not url.startswith(server.url)}
    assert elsewhere <= {"https://cdn.redoc.ly/redoc/logo-mini.svg"}, resources
    assert f"{server.url}/docs-assets/redoc.standalone.js" in resources
