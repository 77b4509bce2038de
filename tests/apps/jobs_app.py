"""An app with jobs, for ``tests/test_jobs.py``; its worker is
``carafe --app tests.apps.jobs_app:app worker``.

Redis comes from ``CARAFE_REDIS_URL`` and the queue's name from ``CARAFE_JOBS_QUEUE``
(``app.config.from_prefixed_env``); the tasks report what they did by pushing a line onto
the Redis list ``<queue>:done``, through a client the app's lifespan opens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime

import msgspec
import redis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from carafe import Carafe
from carafe.config import Config, TypedSettings
from carafe.jobs import JobInfo, Jobs, Queue


class Lab(msgspec.Struct):
    greeting: str = "hello"  # LAB_GREETING


class Note(msgspec.Struct):
    text: str
    at: datetime


@contextlib.asynccontextmanager
async def lifespan(app: Carafe) -> AsyncIterator[None]:
    """A resource opened with the app, as a database would be: the tasks write with it."""
    # No socket timeout (redis-py's is 5 s): the task `held` blocks on BLPOP for longer.
    # One retry on a broken connection: after a Redis restart each pooled one fails once.
    app.state.redis = Redis.from_url(
        app.config["REDIS_URL"],
        socket_timeout=None,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.exceptions.ConnectionError],
    )
    try:
        yield
    finally:
        await app.state.redis.aclose()


jobs = Jobs()
jobs.provide(Redis, lambda app: app.state.redis)
app = Carafe(title="lab", lifespan=lifespan, extensions=[jobs, TypedSettings(Lab, prefix="LAB_")])
app.config.from_prefixed_env()


def done_key(config: Config) -> str:
    return f"{config['JOBS_QUEUE']}:done"


@jobs.task
async def record(text: str, lab: Lab, config: Config, store: Redis, info: JobInfo) -> str:
    line = f"{lab.greeting} {text} (attempt {info.attempt} of {info.attempts})"
    await store.rpush(done_key(config), line)
    return line


@jobs.task(retries=3, backoff=0.1, max_backoff=0.2)
async def flaky(name: str, config: Config, store: Redis) -> None:
    tries = await store.incr(f"{done_key(config)}:{name}")
    if tries <= 2:
        raise RuntimeError(f"flaky failure {tries}")
    await store.rpush(done_key(config), f"{name} done after {tries} tries")


@jobs.task(retries=1, backoff=0.1)
async def doomed(config: Config, store: Redis) -> None:
    await store.rpush(done_key(config), "doomed ran")
    raise ValueError("the kettle is empty")


@jobs.task
def write_note(note: Note, app: Carafe) -> None:
    """A sync task (run in the app's thread pool) whose argument is a Struct with a date."""
    with redis.Redis.from_url(app.config["REDIS_URL"]) as client:
        client.rpush(done_key(app.config), f"{note.text} at {note.at.isoformat()}")


@jobs.task
async def chain(text: str, queue: Queue) -> None:
    """A task that enqueues another."""
    await queue.enqueue(record, f"{text} (chained)")


@jobs.task
async def held(name: str, config: Config, store: Redis, info: JobInfo) -> None:
    """Runs until the test pushes onto ``<queue>:release``: a job running when the
    worker is told to stop."""
    await store.rpush(done_key(config), f"{name} started (attempt {info.attempt})")
    await store.blpop([f"{config['JOBS_QUEUE']}:release"], timeout=60)
    await store.rpush(done_key(config), f"{name} finished")


@jobs.task(retries=1, backoff=0, timeout=2)
async def stranded(config: Config, store: Redis, info: JobInfo) -> None:
    """Its first run is left hanging: the test kills the worker while it waits."""
    await store.rpush(done_key(config), f"stranded started (attempt {info.attempt})")
    if info.attempt == 1:
        await asyncio.sleep(60)
    await store.rpush(done_key(config), "stranded finished")


@app.post("/stranded")
async def post_stranded() -> dict[str, str]:
    return {"job": await stranded.enqueue()}


@app.post("/held")
async def post_held(name: str) -> dict[str, str]:
    return {"job": await held.enqueue(name)}


@app.post("/notes")
async def post_note(text: str) -> dict[str, str]:
    return {"job": await record.enqueue(text)}


@app.post("/sync-notes")
def post_note_from_sync_code(text: str) -> dict[str, str]:
    return {"job": record.enqueue_sync(text)}


@app.post("/flaky")
async def post_flaky(name: str, queue: Queue) -> dict[str, str]:
    return {"job": await queue.enqueue(flaky, name)}


@app.post("/doomed")
async def post_doomed() -> dict[str, str]:
    return {"job": await doomed.enqueue()}


@app.post("/dated")
async def post_dated(text: str) -> dict[str, str]:
    note = Note(text=text, at=datetime(2024, 5, 1, 12, 30))
    return {"job": await write_note.enqueue(note)}


@app.post("/chain")
async def post_chain(text: str) -> dict[str, str]:
    return {"job": await chain.enqueue(text)}


@app.get("/jobs/{job_id}")
async def job_status(job_id: str, queue: Queue) -> dict[str, str | None]:
    return {"status": await queue.status(job_id)}
