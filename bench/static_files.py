"""Static files in-process: Carafe's ``StaticFiles`` against Starlette's, same files and requests.

    .venv/bin/python bench/static_files.py [--seconds 1.0]

Cases: a small CSS file (200), the same file revalidated (``If-None-Match`` -> 304),
a 4 KiB range of a 1 MiB file (206), and a missing file (404). Each framework serves the
folder at ``/static`` from an app (``app.static`` / Starlette's ``Mount``), called as ASGI
with a scope shaped like uvicorn's; the number is requests per second, the best of three
timed blocks. Every response is checked before timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from typing import Any

from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles as StarletteStaticFiles

from carafe import Carafe

CSS = b"body { font-family: sans-serif; color: #333; }\n" * 40
BIG = os.urandom(1 << 20)


def scope(path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }


async def call(app: Any, request: dict[str, Any]) -> tuple[int, dict[bytes, bytes], bytes]:
    """One request; ``receive`` answers the (empty) body, then waits as a live client does."""
    state: dict[str, Any] = {"status": 0, "headers": {}, "body": b""}
    asked = False

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            state["status"] = message["status"]
            state["headers"] = dict(message.get("headers", []))
        else:
            state["body"] += message.get("body", b"")

    await app(dict(request), receive, send)
    return state["status"], state["headers"], state["body"]


async def measure(app: Any, request: dict[str, Any], seconds: float) -> float:
    count = 0
    deadline = time.perf_counter() + seconds / 3
    while time.perf_counter() < deadline:  # warm up and size the block
        await call(app, request)
        count += 1
    best = 0.0
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(count):
            await call(app, request)
        best = max(best, count / (time.perf_counter() - start))
    return best


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as directory:
        with open(os.path.join(directory, "app.css"), "wb") as file:
            file.write(CSS)
        with open(os.path.join(directory, "big.bin"), "wb") as file:
            file.write(BIG)
        carafe = Carafe()
        carafe.static("/static", directory)
        carafe.compile()
        starlette = Starlette(
            routes=[Mount("/static", StarletteStaticFiles(directory=directory), name="static")]
        )
        apps = {"carafe": carafe, "starlette": starlette}
        print(f"{'case':<22}" + "".join(f"{name:>14}" for name in apps))
        for case, path, expected_status, expected_body in (
            ("small file 200", "/static/app.css", 200, CSS),
            ("revalidate 304", "/static/app.css", 304, b""),
            ("range 206 (4 KiB)", "/static/big.bin", 206, BIG[1000:5096]),
            ("missing 404", "/static/nope.css", 404, None),
        ):
            row = f"{case:<22}"
            for app in apps.values():
                headers: list[tuple[bytes, bytes]] = []
                if expected_status == 304:
                    _, first, _ = await call(app, scope(path, []))
                    headers = [(b"if-none-match", first[b"etag"])]
                elif expected_status == 206:
                    headers = [(b"range", b"bytes=1000-5095")]
                request = scope(path, headers)
                status, _, body = await call(app, request)
                assert status == expected_status, (case, status)
                assert expected_body is None or body == expected_body, case
                row += f"{await measure(app, request, seconds):>12,.0f}/s"
            print(row)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="time per case and app")
    asyncio.run(main(parser.parse_args().seconds))
