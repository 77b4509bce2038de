"""``app.stopping``: the flag that tells endless streams the app is going away."""

from __future__ import annotations

import asyncio
import logging

import pytest

from carafe import Carafe
from carafe._stopping import Stopping
from carafe.testing import TestClient

pytestmark = pytest.mark.anyio


async def test_wait_returns_once_set_and_at_once_after() -> None:
    stopping = Stopping()
    waiter = asyncio.ensure_future(stopping.wait())
    await asyncio.sleep(0)
    assert not waiter.done()
    assert repr(stopping) == "<Stopping unset>"
    stopping.set()
    await waiter
    await stopping.wait()
    assert stopping.is_set()
    assert repr(stopping) == "<Stopping set>"


async def test_callbacks_run_once_per_set_and_a_failing_one_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stopping = Stopping()
    calls: list[str] = []

    def broken() -> None:
        raise RuntimeError("callback bug")

    stopping.add_callback(broken)
    stopping.add_callback(lambda: calls.append("ran"))
    with caplog.at_level(logging.ERROR, logger="carafe"):
        stopping.set()
        stopping.set()  # already set: nothing runs again
    assert calls == ["ran"]
    assert "A stopping callback failed" in caplog.text
    stopping.clear()
    stopping.set()
    assert calls == ["ran", "ran"]


async def test_a_cancelled_waiter_is_forgotten() -> None:
    stopping = Stopping()
    waiter = asyncio.ensure_future(stopping.wait())
    await asyncio.sleep(0)
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    assert not stopping._waiters


def test_waiters_of_a_closed_loop_are_skipped() -> None:
    stopping = Stopping()
    loop = asyncio.new_event_loop()
    abandoned: asyncio.Future[None] = loop.create_future()  # a test client's loop, gone
    loop.close()
    stopping._waiters.add(abandoned)
    stopping.set()  # no "Event loop is closed" error
    assert stopping.is_set()
    assert not abandoned.done()


def test_the_app_sets_it_at_shutdown_and_clears_it_at_startup() -> None:
    app = Carafe()
    seen: list[bool] = []
    app.on_shutdown(lambda: seen.append(app.stopping.is_set()))
    assert not app.stopping.is_set()
    with TestClient(app):
        assert not app.stopping.is_set()
    assert app.stopping.is_set()
    assert seen == [True]  # set before the shutdown hooks run
    with TestClient(app):  # one loop after another: the flag follows the app
        assert not app.stopping.is_set()
    assert app.stopping.is_set()
