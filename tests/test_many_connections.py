"""One uvicorn worker holds 10,000 idle websockets and still answers HTTP.

The file-descriptor limit is raised to its hard maximum in the test process before
the server starts, so the server (a child process) inherits it. The test prints the
server's resident memory per idle connection.
"""

from __future__ import annotations

import asyncio
import resource
import time
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.anyio]

CONNECTIONS = 10_000
BATCH = 500


def raise_fd_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < needed:
        pytest.skip(f"the hard RLIMIT_NOFILE is {hard}; {needed} descriptors are needed")
    target = needed if hard == resource.RLIM_INFINITY else hard
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target


async def wait_for_open(http: httpx.AsyncClient, count: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (await http.get("/stats")).json()["idle_open"] != count:
        assert time.monotonic() < deadline, f"the server did not reach {count} open handlers"
        await asyncio.sleep(0.1)


async def test_ten_thousand_idle_websockets(live_server: type[LiveServer]) -> None:
    from websockets.asyncio.client import connect

    limit = raise_fd_limit(CONNECTIONS + 1000)
    server = live_server("tests.realtime_app:app")
    url = f"ws://127.0.0.1:{server.port}/idle"
    sockets: list[Any] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        assert (await http.get("/memory")).json()["nofile"] == limit  # inherited
        async with connect(url, ping_interval=None):  # warm up: imports, first allocations
            await wait_for_open(http, 1)
        await wait_for_open(http, 0)
        before = (await http.get("/memory")).json()["rss_kib"]
        try:
            for _ in range(CONNECTIONS // BATCH):
                batch = [connect(url, ping_interval=None, open_timeout=60) for _ in range(BATCH)]
                sockets.extend(await asyncio.gather(*batch))
            opened = time.monotonic() - started
            await wait_for_open(http, CONNECTIONS)
            asked = time.monotonic()
            response = await http.get("/stats")
            answer_time = time.monotonic() - asked
            assert response.status_code == 200
            assert response.json()["idle_open"] == CONNECTIONS
            after = (await http.get("/memory")).json()["rss_kib"]
        finally:
            for start in range(0, len(sockets), BATCH):
                await asyncio.gather(*(ws.close() for ws in sockets[start : start + BATCH]))
        await wait_for_open(http, 0)
    per_connection = (after - before) * 1024 / CONNECTIONS
    print(
        f"\n{CONNECTIONS} idle websockets opened in {opened:.1f}s; HTTP answered in "
        f"{answer_time * 1000:.1f} ms while they were open; server RSS {before} KiB -> "
        f"{after} KiB: {per_connection / 1024:.1f} KiB per idle connection; "
        f"all closed after {time.monotonic() - started:.1f}s"
    )
    assert per_connection < 200 * 1024  # a sanity bound, not a benchmark
    assert time.monotonic() - started < 120  # ~35 s alone on 2 cores; slack for a busy CI
