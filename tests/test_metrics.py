"""MetricsMiddleware: counts by route template, a scrape endpoint, sums across workers."""

from __future__ import annotations

import os
import re
import signal
import threading
from pathlib import Path

import httpx
import pytest

from carafe import Carafe
from carafe.middleware import MetricsMiddleware
from carafe.testing import TestClient
from tests.cluster import wait_until
from tests.conftest import LiveServer


def make_app(**options: str) -> Carafe:
    app = Carafe(docs=None)
    app.add_middleware(MetricsMiddleware, **options)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    return app


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in the exposition format (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_requests_are_counted_by_template_and_status() -> None:
    with TestClient(make_app()) as client:
        for item in (1, 2, 3):
            client.get(f"/items/{item}")
        client.get("/items/x")  # 422
        client.get("/nowhere")  # 404, unmatched
        scraped = client.get("/metrics")
    assert scraped.headers["content-type"].startswith("text/plain")
    text = scraped.text
    route = {"method": "GET", "route": "/items/{item_id}"}
    assert sample(text, "http_requests_total", **route, status="200") == 3
    assert sample(text, "http_requests_total", **route, status="422") == 1
    assert sample(text, "http_requests_total", method="GET", route="unmatched", status="404") == 1
    assert sample(text, "http_request_duration_seconds_count", **route) == 4
    assert sample(text, "http_requests_in_progress", **route) == 0
    assert "/items/1" not in text  # no raw paths: the label set stays bounded


def test_two_apps_count_apart_and_a_namespace() -> None:
    with TestClient(make_app()) as one, TestClient(make_app(namespace="shop")) as two:
        one.get("/items/1")
        assert "shop_http_requests_total" in two.get("/metrics").text
        labels = {"method": "GET", "route": "/items/{item_id}", "status": "200"}
        assert sample(two.get("/metrics").text, "shop_http_requests_total", **labels) == 0
        assert two.head("/metrics").content == b""


def count_across_workers(server: LiveServer, requests: int) -> None:
    """Send ``requests`` requests over new connections, spread over the two workers by
    the kernel; then every scrape, whichever worker answers it, counts them all."""
    pids: set[int] = set()
    for item in range(requests):
        pids.add(httpx.get(f"{server.url}/items/{item}").json()["pid"])
    assert len(pids) == 2, "the requests did not reach both workers"
    labels = {"method": "GET", "route": "/items/{item_id}", "status": "200"}
    for _ in range(6):  # new connections: scrapes answered by one worker or the other
        text = httpx.get(f"{server.url}/metrics").text
        assert sample(text, "http_requests_total", **labels) == requests


@pytest.mark.slow
def test_workers_add_up_without_any_setting(
    live_server: type[LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = live_server("tests.apps.metrics_app:app", "--workers", "2")
    count_across_workers(server, 40)
    directory = httpx.get(f"{server.url}/metrics-dir").json()["dir"]
    assert directory and Path(directory).is_dir()  # carafe run's own, in every worker
    server.stop()
    assert not Path(directory).exists(), "the temporary metrics directory was left behind"


@pytest.mark.slow
def test_a_directory_the_user_sets_is_used_and_kept(
    live_server: type[LiveServer], tmp_path: Path
) -> None:
    server = live_server(
        "tests.apps.metrics_app:app",
        "--workers",
        "2",
        env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
    )
    count_across_workers(server, 40)
    assert httpx.get(f"{server.url}/metrics-dir").json()["dir"] == str(tmp_path)
    server.stop()
    assert list(tmp_path.iterdir()), "the user's metrics directory was emptied"


@pytest.mark.slow
def test_one_worker_counts_in_its_own_memory(
    live_server: type[LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = live_server("tests.apps.metrics_app:app")
    assert httpx.get(f"{server.url}/metrics-dir").json()["dir"] is None


def held_by(directory: Path) -> dict[int, int]:
    """How many /hold requests each worker (by pid) is holding now."""
    counts: dict[int, int] = {}
    for mark in directory.glob("held-*"):
        pid = int(mark.name.split("-")[1])
        counts[pid] = counts.get(pid, 0) + 1
    return counts


def in_progress(server: LiveServer) -> set[float]:
    """The in-progress gauge of /hold, as six scrapes (either worker answering) saw it."""
    seen = set()
    for _ in range(6):
        text = httpx.get(f"{server.url}/metrics").text
        seen.add(sample(text, "http_requests_in_progress", method="GET", route="/hold"))
    return seen


@pytest.mark.slow
@pytest.mark.parametrize("name", ["uvicorn", "granian"])
def test_in_progress_adds_up_across_workers_and_forgets_a_killed_one(
    live_server: type[LiveServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str
) -> None:
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR", raising=False)
    server = live_server(
        "tests.apps.metrics_app:app",
        *("--workers", "2", "--server", name),
        env={"HOLD_DIR": str(tmp_path)},
    )
    outcomes: list[int | str] = []

    def ask() -> None:
        try:
            outcomes.append(httpx.get(f"{server.url}/hold", timeout=60).status_code)
        except httpx.HTTPError as exc:
            outcomes.append(type(exc).__name__)

    threads: list[threading.Thread] = []
    while len(held_by(tmp_path)) < 2:  # new connections until both workers hold some
        assert len(threads) < 40, "the requests did not reach both workers"
        threads.append(threading.Thread(target=ask))
        threads[-1].start()
        wait_until(lambda: sum(held_by(tmp_path).values()) == len(threads), "a held request")
    held = held_by(tmp_path)
    assert in_progress(server) == {len(threads)}  # one sum, whichever worker answers

    victim, *_ = held
    os.kill(victim, signal.SIGKILL)  # its requests never finish: its gauge never drops
    wait_until(lambda: len(outcomes) == held[victim], "the killed worker's clients to fail")
    assert in_progress(server) == {len(threads) - held[victim]}

    (tmp_path / "release").touch()
    for thread in threads:
        thread.join()
    assert in_progress(server) == {0}
    assert sorted(outcomes, key=str) == sorted(
        [200] * (len(threads) - held[victim]) + ["RemoteProtocolError"] * held[victim], key=str
    )
