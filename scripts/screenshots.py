"""Take the documentation's screenshots in headless Chromium: ``scripts/screenshots``.

    scripts/screenshots                      # all of them, into docs/assets/screenshots/
    scripts/screenshots --only debug-page --out /tmp/shots

Each shot starts what it shows on loopback (``carafe run`` in a subprocess, or the docs
site built by mkdocs and opened from ``file://``), opens it in Debian's Chromium through
``tests/browser.py``, waits until the page has drawn what the shot is for, and saves a
PNG of the window. Nothing is fetched from the network: Swagger UI and ReDoc are served
by the app (the ``docs`` extra), the site works offline.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, BrowserError  # noqa: E402
from tests.conftest import free_port, wait_for_port  # noqa: E402

OUT = ROOT / "docs" / "assets" / "screenshots"
WIDTH, HEIGHT = 1280, 800


@contextmanager
def serving(target: str, *args: str) -> Iterator[str]:
    """``carafe run target`` on a free loopback port; yields its base URL."""
    port = free_port()
    command = [sys.executable, "-m", "carafe", "run", target, "--port", str(port), *args]
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, timeout=30, proc=proc)
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_until(browser: Browser, expression: str, what: str, timeout: float = 20.0) -> None:
    """Poll a JavaScript condition: the page has drawn what the shot shows."""
    deadline = time.monotonic() + timeout  # a bound on waiting, not a measurement
    while not browser.evaluate(expression):
        if time.monotonic() > deadline:
            raise BrowserError(f"the page never showed {what}")
        time.sleep(0.1)
    time.sleep(0.3)  # fonts and the last layout pass


def capture(browser: Browser, path: Path) -> None:
    shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=False)
    path.write_bytes(base64.b64decode(shot["data"]))


# --- The shots ------------------------------------------------------------------------


def debug_page(browser: Browser, path: Path) -> None:
    with serving("docs.examples.debug_demo:app", "--debug", "--no-reload") as url:
        browser.open(f"{url}/orders/7/average")
        wait_until(browser, "document.body.innerText.includes('ZeroDivisionError')", "the error")
        capture(browser, path)


def swagger_ui(browser: Browser, path: Path) -> None:
    with serving("examples.api:app") as url:
        browser.open(f"{url}/docs")
        wait_until(browser, "document.querySelectorAll('.opblock').length > 3", "the operations")
        # Open the first operation, as a reader would, to show its parameters.
        browser.evaluate("document.querySelector('.opblock-summary-control').click()")
        wait_until(browser, "!!document.querySelector('.opblock-body')", "an operation")
        capture(browser, path)


def redoc(browser: Browser, path: Path) -> None:
    with serving("examples.api:app") as url:
        browser.open(f"{url}/redoc")
        wait_until(browser, "!!document.querySelector('.api-content h2')", "the operations")
        capture(browser, path)


def docs_home(browser: Browser, path: Path) -> None:
    with tempfile.TemporaryDirectory() as site:
        subprocess.run(
            [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", site],
            cwd=ROOT,
            env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
            check=True,
        )
        browser.open((Path(site) / "index.html").as_uri())
        wait_until(browser, "!!document.querySelector('.md-nav')", "the navigation")
        capture(browser, path)


@dataclass(frozen=True)
class Shot:
    name: str
    take: Callable[[Browser, Path], None]


SHOTS = [
    Shot("debug-page", debug_page),
    Shot("swagger-ui", swagger_ui),
    Shot("redoc", redoc),
    Shot("docs-home", docs_home),
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNGs")
    parser.add_argument(
        "--only", action="append", choices=[shot.name for shot in SHOTS], help="repeatable"
    )
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for shot in SHOTS:
        if args.only and shot.name not in args.only:
            continue
        # Chromium's helper processes may still write to the profile as it is removed.
        profiles = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        with profiles as profile, Browser(args.chromium, Path(profile)) as b:
            b.send(
                "Emulation.setDeviceMetricsOverride",
                width=WIDTH,
                height=HEIGHT,
                deviceScaleFactor=1,
                mobile=False,
            )
            target = args.out / f"{shot.name}.png"
            shot.take(b, target)
            print(f"{target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
