"""Background tasks: after the response, logged on failure, waited for at shutdown."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from carafe import BackgroundTasks, Carafe, Depends, HTTPError, JSONResponse
from carafe.testing import TestClient
from tests.conftest import LiveServer


def make_app(**options: Any) -> tuple[Carafe, dict[str, Any]]:
    app = Carafe(**options)
    seen: dict[str, Any] = {"log": [], "done": threading.Event()}
    log: list[str] = seen["log"]

    async def slow_note(text: str, delay: float = 0.5) -> None:
        await asyncio.sleep(delay)
        log.append(text)
        seen["done"].set()

    def blocking_note(text: str) -> None:
        log.append(f"{text} in {threading.current_thread().name}")

    def broken() -> None:
        raise RuntimeError("task failed")

    def audit_tasks(tasks: BackgroundTasks) -> BackgroundTasks:
        tasks.add(log.append, "audit")
        return tasks

    @app.post("/signup")
    async def signup(
        tasks: BackgroundTasks,
        audit: BackgroundTasks = Depends(audit_tasks),  # noqa: B008  (a local function)
    ) -> dict[str, bool]:
        assert tasks is audit  # one object per request
        tasks.add(blocking_note, "welcome")
        tasks.add(slow_note, "slow done")
        return {"ok": True}

    @app.post("/broken")
    def with_broken_task(tasks: BackgroundTasks) -> dict[str, bool]:
        tasks.add(broken)
        tasks.add(slow_note, "after broken", delay=0)
        return {"ok": True}

    @app.post("/fails")
    async def fails(tasks: BackgroundTasks) -> None:
        tasks.add(log.append, "never")
        raise HTTPError(409, "Taken.")

    @app.post("/response")
    async def explicit_response() -> JSONResponse:
        tasks = BackgroundTasks()
        tasks.add(log.append, "inline")
        return JSONResponse({"ok": True}, background=tasks)

    @app.post("/long")
    async def long(tasks: BackgroundTasks, seconds: float) -> dict[str, bool]:
        tasks.add(slow_note, "long done", delay=seconds)
        return {"ok": True}

    @app.get("/plain")
    async def plain() -> dict[str, bool]:
        return {"ok": True}

    return app, seen


def test_tasks_run_after_the_response_in_order_and_sync_ones_in_threads() -> None:
    app, seen = make_app()
    with TestClient(app) as client:
        assert client.post("/signup").json() == {"ok": True}
        assert "slow done" not in seen["log"]  # the slow task did not hold the response
        assert seen["done"].wait(5)
    assert seen["log"][0] == "audit"
    assert seen["log"][1].startswith("welcome in carafe")  # the thread pool
    assert seen["log"][2] == "slow done"


def test_a_failing_task_is_logged_and_does_not_affect_others(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, seen = make_app()
    with caplog.at_level(logging.ERROR, logger="carafe"), TestClient(app) as client:
        assert client.post("/broken").status_code == 200
        assert seen["done"].wait(5)
        assert client.get("/plain").json() == {"ok": True}
    assert seen["log"] == ["after broken"]
    record = next(r for r in caplog.records if "Background task" in r.getMessage())
    assert "with_broken_task.<locals>.broken failed" not in record.getMessage()
    assert record.getMessage().endswith("broken failed")
    assert record.exc_info is not None and "task failed" in str(record.exc_info[1])


def test_tasks_of_a_failed_request_are_dropped() -> None:
    app, seen = make_app()
    with TestClient(app) as client:
        assert client.post("/fails").status_code == 409
        assert client.post("/response").status_code == 200
    assert seen["log"] == ["inline"]  # "never" never ran


def test_shutdown_waits_for_running_tasks() -> None:
    app, seen = make_app()
    with TestClient(app) as client:
        client.post("/long?seconds=0.3")
        assert seen["log"] == []
    assert seen["log"] == ["long done"]  # shutdown waited


def test_shutdown_cancels_tasks_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    app, seen = make_app(background_timeout=0.1)
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="carafe"), TestClient(app) as client:
        client.post("/long?seconds=30")
    assert time.monotonic() - started < 5
    assert seen["log"] == []
    assert "cancelled 1 background task(s) still running after 0.1s" in caplog.text


def test_background_tasks_object() -> None:
    tasks = BackgroundTasks()
    assert not tasks
    tasks.add(print, "x", sep="")
    assert len(tasks) == 1
    assert repr(tasks) == "<BackgroundTasks 1>"


@pytest.mark.slow
def test_a_real_server_finishes_running_tasks_before_it_exits(
    live_server: type[LiveServer], tmp_path: Path
) -> None:
    server = live_server("tests.realtime_app:app")
    target = tmp_path / "out.txt"
    started = time.monotonic()
    response = httpx.post(f"{server.url}/background", params={"path": str(target), "seconds": 1})
    assert response.json() == {"accepted": True}
    assert time.monotonic() - started < 1  # answered before the task ran
    assert not target.exists()
    log = server.stop()  # SIGTERM while the task sleeps
    assert target.read_text() == "written after the response"
    assert "cancelled" not in log  # it finished; it was not cut short
