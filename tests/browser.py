"""A tiny Chrome DevTools Protocol client: drive Debian's headless Chromium from tests.

    with Browser(chromium_path, tmp_path) as browser:
        browser.open(f"{server.url}/login")
        browser.fill("#email", "ann@example.com")
        browser.click("button[type=submit]")      # waits for the next page to load
        assert browser.text("h1") == "Your account"

It starts ``chromium --headless --remote-debugging-port=N`` with a throwaway profile,
opens one page over the ``websockets`` package (sync client) and speaks CDP JSON: a
command is ``{"id", "method", "params"}``, its answer carries the same id, and events
(``Page.loadEventFired``) arrive in between. No browser download, no WebDriver.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

from tests.conftest import free_port, wait_for_port

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


class BrowserError(Exception):
    """A CDP command failed, or the page did not do what was waited for."""


class Browser:
    """One headless Chromium with one page."""

    def __init__(self, binary: str, profile: Path, timeout: float = 20.0) -> None:
        self.timeout = timeout
        port = free_port()
        self.proc = subprocess.Popen(
            [
                binary,
                *FLAGS,
                f"--remote-debugging-port={port}",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_port(port, timeout=timeout, proc=self.proc)
            self.ws = self._connect_page(port)
        except Exception:
            self.close()
            raise
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.send("Page.enable")
        self.send("Runtime.enable")
        self.send("Network.enable")

    def _connect_page(self, port: int) -> ClientConnection:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                targets = httpx.get(f"http://127.0.0.1:{port}/json/list", timeout=2).json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    connection = connect(pages[0]["webSocketDebuggerUrl"], max_size=None)
                    return connection.__enter__()  # closed by close()
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise BrowserError("Chromium opened no page to drive")
            time.sleep(0.1)

    # --- CDP --------------------------------------------------------------------------

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        """Run a CDP command and return its result; events seen meanwhile are kept."""
        self._next_id += 1
        ident = self._next_id
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        deadline = time.monotonic() + self.timeout
        while True:
            message = json.loads(self.ws.recv(timeout=max(0.1, deadline - time.monotonic())))
            if message.get("id") == ident:
                if "error" in message:
                    raise BrowserError(f"{method}: {message['error']}")
                return message.get("result", {})  # type: ignore[no-any-return]
            if "method" in message:
                self.events.append(message)

    def wait_for_event(self, method: str) -> dict[str, Any]:
        deadline = time.monotonic() + self.timeout
        while True:
            for index, event in enumerate(self.events):
                if event["method"] == method:
                    del self.events[: index + 1]
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserError(f"no {method} within {self.timeout}s")
            message = json.loads(self.ws.recv(timeout=remaining))
            if "method" in message:
                self.events.append(message)

    # --- What a test does -------------------------------------------------------------

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page."""
        result = self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str) -> None:
        """Go to ``url`` and wait until the page has loaded."""
        self.events.clear()
        self.send("Page.navigate", url=url)
        self.wait_for_event("Page.loadEventFired")

    def fill(self, selector: str, value: str) -> None:
        """Type ``value`` into the field ``selector`` (as the page's scripts would see it)."""
        found = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            f" if (!e) return false; e.focus(); e.value = {json.dumps(value)};"
            " e.dispatchEvent(new Event('input', {bubbles: true})); return true; })()"
        )
        if not found:
            raise BrowserError(f"no field {selector}")

    def click(self, selector: str, navigates: bool = True) -> None:
        """Click ``selector``; by default wait for the page it leads to."""
        self.events.clear()
        clicked = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " if (!e) return false; e.click(); return true; })()"
        )
        if not clicked:
            raise BrowserError(f"nothing to click at {selector}")
        if navigates:
            self.wait_for_event("Page.loadEventFired")

    def text(self, selector: str) -> str | None:
        """The text of the first element matching ``selector``, or None."""
        value = self.evaluate(
            f"(() => {{ const e = document.querySelector({json.dumps(selector)});"
            " return e ? e.textContent.trim() : null; })()"
        )
        return value if value is None else str(value)

    def texts(self, selector: str) -> list[str]:
        return list(
            self.evaluate(
                f"Array.from(document.querySelectorAll({json.dumps(selector)}))"
                ".map(e => e.textContent.trim())"
            )
        )

    @property
    def url(self) -> str:
        return str(self.evaluate("location.href"))

    def cookies(self) -> list[dict[str, Any]]:
        """Every cookie the browser holds (``HttpOnly`` ones included)."""
        return list(self.send("Network.getAllCookies")["cookies"])

    def close(self) -> None:
        ws = getattr(self, "ws", None)
        if ws is not None:
            ws.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
