"""Swagger UI in a real browser: Debian's headless Chromium, driven over the DevTools protocol.

The example app runs under ``carafe run`` on loopback with the viewer's scripts served
by the app itself (the ``docs`` extra), so the page works with no network at all.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.sync.client import ClientConnection, connect

from carafe.openapi.docs import find_assets

pytestmark = pytest.mark.slow

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
    "--remote-allow-origins=*",
    "--window-size=1280,1024",
]


class Browser:
    """Just enough of the Chrome DevTools protocol: evaluate JavaScript, wait for a result."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket
        self.ids = itertools.count(1)

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self.ids)
        self.socket.send(json.dumps({"id": message_id, "method": method, "params": params}))
        while True:
            reply = json.loads(self.socket.recv(timeout=30))
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]  # type: ignore[no-any-return]

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 20.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.1)
        page = self.evaluate("document.body.innerText")
        raise AssertionError(f"timed out waiting for: {expression}\n--- page ---\n{page}")


@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[Browser]:
    profile = tmp_path / "profile"
    proc = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start its DevTools endpoint")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=10).json()
        page = next(t for t in targets if t["type"] == "page")
        with connect(page["webSocketDebuggerUrl"], max_size=None) as socket:
            yield Browser(socket)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


OPERATION = "/items/{item_id}"
FIND_BLOCK = f"""
[...document.querySelectorAll('.opblock-get')].find(
    b => b.querySelector('.opblock-summary-path')?.textContent.trim() === '{OPERATION}')
"""


def test_swagger_ui_lists_operations_and_tries_one_out(live_server: Any, browser: Browser) -> None:
    if find_assets("swagger") is None:
        pytest.fail("the docs extra (drf-spectacular-sidecar) is not installed")
    server = live_server("examples.api:app")
    browser.send("Page.navigate", url=f"{server.url}/docs")

    # The operations render from the document.
    count = browser.wait_for(
        "document.querySelectorAll('.opblock').length >= 10 && "
        "document.querySelectorAll('.opblock').length"
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
    browser.wait_for(f"!!({FIND_BLOCK}).querySelector('.try-out__btn')")
    browser.evaluate(f"({FIND_BLOCK}).querySelector('.try-out__btn').click()")
    browser.wait_for(f"!!({FIND_BLOCK}).querySelector('input[placeholder=\"item_id\"]')")
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
    browser.wait_for(f"!!({FIND_BLOCK}).querySelector('.execute')")
    browser.evaluate(f"({FIND_BLOCK}).querySelector('.execute').click()")

    # The response Swagger UI shows is the app's answer.
    row = f"({FIND_BLOCK}).querySelector('.live-responses-table tbody"
    status = browser.wait_for(f"{row} .response-col_status')?.textContent")
    assert status.strip().startswith("200"), status
    shown = browser.wait_for(
        f"({FIND_BLOCK}).querySelector('.live-responses-table tbody .microlight, "
        f".live-responses-table tbody pre')?.textContent"
    )
    assert json.loads(shown) == {"id": 1, "name": "kettle", "price": 24.5, "tags": ["kitchen"]}
    request_url = browser.evaluate(f"({FIND_BLOCK}).querySelector('.request-url pre')?.textContent")
    assert request_url == f"{server.url}/items/1"
