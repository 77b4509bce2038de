"""Jobs on a real queue (carafe.jobs): a real Redis, and ``carafe worker`` in a real process.

The app is ``tests/apps/jobs_app.py``; each test has a queue of its own, and the tasks
push what they did onto the Redis list ``<queue>:done``, which the tests read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
import redis
import saq
from click.testing import CliRunner

from carafe import Carafe
from carafe.cli import main
from carafe.exceptions import ConfigurationError
from carafe.jobs import JobArgumentError, JobError, JobInfo, Jobs, JobsUnavailable
from carafe.testing import AsyncTestClient, TestClient
from tests.apps import jobs_app
from tests.conftest import ROOT, RedisProcess, free_port

APP = "tests.apps.jobs_app:app"
WAIT = 60  # seconds a test waits for a worker at most: a bound, not a measure


class Lab:
    """One test's queue: its name, the env a process needs to use it, its done list."""

    def __init__(self, redis_url: str) -> None:
        self.queue = f"test-{uuid.uuid4().hex[:10]}"
        self.redis_url = redis_url
        self.env = {
            "CARAFE_REDIS_URL": redis_url,
            "CARAFE_JOBS_QUEUE": self.queue,
            "LAB_GREETING": "bonjour",  # the worker's TypedSettings(Lab) reads it
        }
        self.redis = redis.Redis.from_url(redis_url, socket_timeout=None)  # blpop waits longer
        self.done = f"{self.queue}:done"

    def next_done(self) -> str:
        """The next line a task pushed (waiting for it, within WAIT seconds)."""
        popped = self.redis.blpop([self.done], timeout=WAIT)
        assert popped is not None, f"no task finished within {WAIT}s"
        return popped[1].decode()

    def done_count(self) -> int:
        return int(self.redis.llen(self.done))


@pytest.fixture
def lab(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Lab]:
    made = Lab(redis_url)
    monkeypatch.setitem(jobs_app.app.config, "REDIS_URL", redis_url)
    monkeypatch.setitem(jobs_app.app.config, "JOBS_QUEUE", made.queue)
    yield made
    made.redis.close()


class Worker:
    """``carafe --app tests.apps.jobs_app:app worker`` in a subprocess."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        command = [sys.executable, "-m", "carafe", "--app", APP, "worker", *args]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in output()
        self.proc = subprocess.Popen(
            command, cwd=ROOT, env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )

    def wait(self) -> int:
        return self.proc.wait(timeout=WAIT)

    def stop(self) -> str:
        """SIGTERM, as a process manager stops it; its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.output()

    def output(self) -> str:
        if self.log.closed:
            return ""
        self.log.seek(0)
        out = self.log.read().decode(errors="replace")
        self.log.close()
        return out


@pytest.fixture
def worker(lab: Lab) -> Iterator[type[Worker]]:
    """Start workers on the test's queue; all are stopped after the test."""
    started: list[Worker] = []

    class Tracked(Worker):
        def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__({**lab.env, **(env or {})}, *args)
            started.append(self)

    yield Tracked
    for one in started:
        one.stop()


def wait_for_status(client: TestClient, job_id: str, status: str) -> None:
    """Poll the app's job-status route until the job has ``status`` (within WAIT s)."""
    deadline = time.monotonic() + WAIT
    seen = None
    while time.monotonic() < deadline:
        seen = client.get(f"/jobs/{job_id}").json()["status"]
        if seen == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} is {seen!r}, not {status!r}, after {WAIT}s")


# --- a handler enqueues, the worker runs ------------------------------------------------


def test_a_handler_enqueues_and_the_worker_runs_the_job(lab: Lab, worker: Any) -> None:
    running = worker()
    with TestClient(jobs_app.app) as client:
        response = client.post("/notes", params={"text": "tea"})
        assert response.status_code == 200
        job_id = response.json()["job"]
        # The worker's settings (LAB_GREETING), its JobInfo, its app's Redis client:
        assert lab.next_done() == "bonjour tea (attempt 1 of 1)"
        wait_for_status(client, job_id, "complete")
    output = running.stop()
    assert f"worker on queue {lab.queue!r}: 7 task(s)" in output
    assert f"tests.apps.jobs_app:record [{job_id}] done (attempt 1)" in output
    assert "worker stopped" in output


def test_sync_tasks_and_typed_arguments(lab: Lab, worker: Any) -> None:
    """A sync task runs in the app's thread pool; a Struct with a datetime round-trips."""
    running = worker("--log-format", "json")
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/dated", params={"text": "memo"}).json()["job"]
        assert lab.next_done() == "memo at 2024-05-01T12:30:00"
        wait_for_status(client, job_id, "complete")
    lines = [json.loads(line) for line in running.stop().splitlines()]
    done = [line for line in lines if job_id in line["message"]]
    assert done[0]["logger"] == "carafe.jobs"
    assert done[0]["message"] == f"tests.apps.jobs_app:write_note [{job_id}] done (attempt 1)"


def test_a_sync_handler_enqueues_with_enqueue_sync(lab: Lab, worker: Any) -> None:
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/sync-notes", params={"text": "tea"}).json()["job"]
        assert client.get(f"/jobs/{job_id}").json() == {"status": "queued"}
        worker()
        assert lab.next_done() == "bonjour tea (attempt 1 of 1)"


@pytest.mark.anyio
async def test_enqueue_sync_from_async_code_says_to_await(lab: Lab) -> None:
    async with AsyncTestClient(jobs_app.app):
        with pytest.raises(RuntimeError, match="called from async code: await the async"):
            jobs_app.record.enqueue_sync("tea")


def test_a_task_enqueues_another(lab: Lab, worker: Any) -> None:
    worker()
    with TestClient(jobs_app.app) as client:
        assert client.post("/chain", params={"text": "tea"}).status_code == 200
        assert lab.next_done() == "bonjour tea (chained) (attempt 1 of 1)"


# --- retries ------------------------------------------------------------------------


def test_a_task_that_fails_twice_is_retried_until_it_succeeds(lab: Lab, worker: Any) -> None:
    running = worker()
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/flaky", params={"name": "kettle"}).json()["job"]
        assert lab.next_done() == "kettle done after 3 tries"
        wait_for_status(client, job_id, "complete")
    output = running.stop()
    name = f"tests.apps.jobs_app:flaky [{job_id}]"
    assert f"{name} failed (attempt 1 of 4); retrying: RuntimeError: flaky failure 1" in output
    assert f"{name} failed (attempt 2 of 4); retrying: RuntimeError: flaky failure 2" in output
    assert f"{name} done (attempt 3)" in output
    assert "Traceback" not in output  # a failure that is retried is one line


def test_a_task_that_keeps_failing_is_given_up_and_its_error_logged(lab: Lab, worker: Any) -> None:
    running = worker()
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/doomed").json()["job"]
        assert lab.next_done() == "doomed ran"
        assert lab.next_done() == "doomed ran"  # retries=1: two runs
        wait_for_status(client, job_id, "failed")
    output = running.stop()
    name = f"tests.apps.jobs_app:doomed [{job_id}]"
    assert f"{name} failed (attempt 1 of 2); retrying: ValueError: the kettle is empty" in output
    assert f"{name} failed (attempt 2 of 2); giving up\nTraceback" in output
    assert output.count("ValueError: the kettle is empty") == 2  # once per run: saq's copy dropped
    assert lab.done_count() == 0


# --- stopping a worker ----------------------------------------------------------------


def test_a_stop_waits_for_the_running_job(lab: Lab, worker: Any) -> None:
    running = worker()
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/held", params={"name": "pot"}).json()["job"]
        assert lab.next_done() == "pot started (attempt 1)"
        running.proc.send_signal(signal.SIGTERM)  # while the job runs
        lab.redis.rpush(f"{lab.queue}:release", "go")
        assert running.wait() == 0
        assert lab.next_done() == "pot finished"
        assert client.get(f"/jobs/{job_id}").json() == {"status": "complete"}


def test_a_job_still_running_after_the_grace_period_is_queued_again(lab: Lab, worker: Any) -> None:
    impatient = worker("--grace", "0")
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/held", params={"name": "pan"}).json()["job"]
        assert lab.next_done() == "pan started (attempt 1)"
        impatient.proc.send_signal(signal.SIGTERM)
        assert impatient.wait() == 0  # it cancelled the job and put it back
        assert client.get(f"/jobs/{job_id}").json() == {"status": "queued"}
        lab.redis.rpush(f"{lab.queue}:release", "go")
        assert worker("--burst").wait() == 0
        assert lab.next_done() == "pan started (attempt 2)"
        assert lab.next_done() == "pan finished"


def test_a_job_whose_worker_was_killed_is_run_again_by_another(lab: Lab, worker: Any) -> None:
    """SIGKILL mid-job: the job stays "active" until its timeout (2 s, and saq's margin)
    has passed; then another worker's sweep queues it again, as a retry."""
    first = worker()
    with TestClient(jobs_app.app) as client:
        job_id = client.post("/stranded").json()["job"]
        assert lab.next_done() == "stranded started (attempt 1)"
        first.proc.kill()
        first.wait()
        assert client.get(f"/jobs/{job_id}").json() == {"status": "active"}
        wait_until_stuck(lab, job_id)
        # The first worker swept the queue when it started; its lock lasts a minute.
        lab.redis.delete(f"saq:{lab.queue}:sweep")
        second = worker()
        assert lab.next_done() == "stranded started (attempt 2)"
        assert lab.next_done() == "stranded finished"
        wait_for_status(client, job_id, "complete")
    assert f"Sweeping job {job_id} of a worker that is gone" in second.stop()


def wait_until_stuck(lab: Lab, job_id: str) -> None:
    """Until the job's record says it has run past its timeout, as a sweep judges it."""
    import saq.job

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        raw = lab.redis.get(f"saq:job:{lab.queue}:{job_id}")
        assert raw is not None
        record = msgspec.json.decode(raw)
        started, timeout = record["started"], record["timeout"]
        if saq.job.now() - started > timeout * 1000:
            return
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not pass its timeout within {WAIT}s")


# --- the queue outlives the web process ---------------------------------------------


def test_a_job_enqueued_with_no_worker_running_is_done_once_one_starts(
    lab: Lab, worker: Any, live_server: Any
) -> None:
    web = live_server(APP, env=lab.env)  # `carafe run`: a real web process
    import httpx

    response = httpx.post(f"{web.url}/notes", params={"text": "kept"})
    assert response.status_code == 200
    job_id = response.json()["job"]
    web.stop()  # the web process is gone; nothing has run the job

    assert lab.done_count() == 0
    with TestClient(jobs_app.app) as client:
        assert client.get(f"/jobs/{job_id}").json() == {"status": "queued"}
        burst = worker("--burst")  # runs what is queued, then exits
        assert burst.wait() == 0
        assert lab.next_done() == "bonjour kept (attempt 1 of 1)"
        assert client.get(f"/jobs/{job_id}").json() == {"status": "complete"}


def test_jobs_waiting_when_a_worker_starts_each_run_once(lab: Lab, worker: Any) -> None:
    """The worker's first sweep meets jobs it has just taken: none is swept (aborted or
    run twice), as saq's own sweep would (tobymao/saq#277)."""
    with TestClient(jobs_app.app) as client:
        ids = [client.post("/notes", params={"text": f"n{i}"}).json()["job"] for i in range(40)]
        assert worker("--burst").wait() == 0
        statuses = {client.get(f"/jobs/{job_id}").json()["status"] for job_id in ids}
    assert statuses == {"complete"}
    lines = [item.decode() for item in lab.redis.lrange(lab.done, 0, -1)]
    assert sorted(lines) == sorted(f"bonjour n{i} (attempt 1 of 1)" for i in range(40))


# --- the worker in this process (what the subprocess runs, measured by coverage) -------


def in_process_app(lab: Lab) -> tuple[Carafe, Jobs]:
    """An app whose retries wait for nothing, so a burst worker runs them all."""
    jobs = Jobs(lab.redis_url, queue=lab.queue)

    @jobs.task(name="ok")
    async def ok(text: str) -> object:
        lab.redis.rpush(lab.done, f"ok {text}")
        return object()  # not JSON: the job completes, its result is not kept

    @jobs.task(name="sync")
    def sync(number: int, app: Carafe) -> int:
        lab.redis.rpush(lab.done, f"sync {number} {app.title}")
        return number

    @jobs.task(name="twice", retries=2, backoff=0)
    async def twice(info: JobInfo) -> None:
        if info.attempt == 1:
            raise RuntimeError("first try")
        lab.redis.rpush(lab.done, f"twice {info.attempt}")

    @jobs.task(name="never", retries=0)
    def never() -> None:
        raise ValueError("never works")

    @jobs.task(name="slow", timeout=0.05)
    async def slow() -> None:
        await asyncio.sleep(30)

    return Carafe(title="inproc", extensions=[jobs]), jobs


@pytest.mark.anyio
async def test_a_burst_worker_in_this_process(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    app, jobs = in_process_app(lab)
    caplog.set_level(logging.INFO, logger="carafe.jobs")
    async with AsyncTestClient(app):
        queue = jobs.queue
        ids = {
            "ok": await jobs.tasks["ok"].enqueue("tea"),
            "sync": await queue.enqueue(jobs.tasks["sync"], 7),
            "twice": await jobs.tasks["twice"].enqueue(),
            "never": await jobs.tasks["never"].enqueue(),
            "slow": await jobs.tasks["slow"].enqueue(),
        }
    await jobs.work(app, burst=True, concurrency=2)
    async with AsyncTestClient(app):
        statuses = {name: await jobs.queue.status(job_id) for name, job_id in ids.items()}
        assert await jobs.queue.status("no-such-job") is None
    assert statuses == {
        "ok": "complete",
        "sync": "complete",
        "twice": "complete",
        "never": "failed",
        "slow": "failed",
    }
    assert sorted(item.decode() for item in lab.redis.lrange(lab.done, 0, -1)) == [
        "ok tea",
        "sync 7 inproc",
        "twice 2",
    ]
    text = caplog.text
    assert f"twice [{ids['twice']}] failed (attempt 1 of 3); retrying: RuntimeError" in text
    assert f"never [{ids['never']}] failed (attempt 1 of 1); giving up" in text
    assert f"slow [{ids['slow']}] timed out after 0.05s (attempt 1 of 1); giving up" in text
    assert "worker stopped" in text


@pytest.mark.anyio
async def test_the_sweep_requeues_an_orphan_and_spares_a_job_just_taken(lab: Lab) -> None:
    """A job in the active list still marked queued is an orphan only if it stays so
    (its worker died between taking it and marking it active)."""
    app, jobs = in_process_app(lab)
    async with AsyncTestClient(app):
        backend = jobs.queue.backend
        orphan_id = await jobs.tasks["ok"].enqueue("orphan")
        taken_id = await jobs.tasks["ok"].enqueue("taken")
        # What a worker's dequeue does first: move both to the active list.
        for _ in range(2):
            await backend.redis.lmove(backend.namespace("queued"), backend.namespace("active"))
        sweeping = asyncio.create_task(backend.sweep(abort=0.1))
        taken = await backend.job(taken_id)
        assert taken is not None
        taken.started = int(time.time() * 1000)  # its worker marks it active, as saq's does
        taken.attempts += 1
        await taken.update(status=saq.Status.ACTIVE)
        swept = await sweeping
        assert swept == [backend.job_id(orphan_id)]
        assert await jobs.queue.status(orphan_id) == "queued"  # retried: queued again
        assert await jobs.queue.status(taken_id) == "active"  # left to its worker
        active = await backend.redis.lrange(backend.namespace("active"), 0, -1)
        assert active == [backend.job_id(taken_id).encode()]
        # A second sweep within the lock's minute does nothing.
        assert await backend.sweep() == []


# --- bad input and a Redis that is down ---------------------------------------------


@pytest.mark.anyio
async def test_arguments_that_do_not_fit_or_cannot_be_sent_are_refused_at_enqueue(
    lab: Lab,
) -> None:
    record = jobs_app.record
    async with AsyncTestClient(jobs_app.app):
        with pytest.raises(JobArgumentError) as caught:
            await record.enqueue(object())
        assert str(caught.value) == (
            "tests.apps.jobs_app:record: argument 'text' cannot be sent to the queue "
            "(object): Encoding objects of type object is unsupported; job arguments "
            "travel as JSON"
        )
        with pytest.raises(JobArgumentError, match=r"'text' .*Expected `str`, got `int`"):
            await record.enqueue(5)
        with pytest.raises(JobArgumentError, match="missing a required argument: 'text'"):
            await record.enqueue()
        with pytest.raises(JobArgumentError, match="too many positional arguments"):
            await record.enqueue("tea", "coffee")  # lab, config... are the worker's
        assert isinstance(caught.value, TypeError)
    assert lab.redis.keys(f"saq:{lab.queue}:*") == []  # nothing was queued


def test_redis_down_when_enqueuing_is_a_503(
    lab: Lab, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setitem(jobs_app.app.config, "REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    caplog.set_level(logging.WARNING)
    with TestClient(jobs_app.app, raise_server_exceptions=False) as client:
        response = client.post("/notes", params={"text": "tea"})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == (
        "The job queue is unavailable right now; try again shortly."
    )
    assert "Job queue unreachable: Error 111 connecting to 127.0.0.1" in caplog.text
    assert "Traceback" not in caplog.text


@pytest.mark.anyio
async def test_redis_down_raises_jobs_unavailable(redis_url: str) -> None:
    jobs = Jobs(f"redis://127.0.0.1:{free_port()}/0")

    @jobs.task
    async def noop() -> None: ...

    app = Carafe(extensions=[jobs])
    async with AsyncTestClient(app):
        with pytest.raises(JobsUnavailable) as caught:
            await noop.enqueue()
    assert str(caught.value).startswith("the job queue cannot be reached: Error 111")
    assert caught.value.status_code == 503


def test_a_worker_without_redis_is_a_one_line_error(lab: Lab, worker: Any) -> None:
    down = worker(env={"CARAFE_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
    assert down.wait() == 1
    output = down.output()
    assert "Error: the job queue cannot be reached: Error 111 connecting to 127.0.0.1" in output
    assert "Traceback" not in output


def test_a_worker_with_no_redis_url_says_what_to_set(lab: Lab) -> None:
    env = {key: value for key, value in lab.env.items() if key != "CARAFE_REDIS_URL"}
    os_env = {k: v for k, v in os.environ.items() if k != "CARAFE_REDIS_URL"}
    proc = subprocess.run(
        [sys.executable, "-m", "carafe", "--app", APP, "worker"],
        cwd=ROOT,
        env={**os_env, **env},
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1] == (
        "Error: the app's startup failed: ConfigurationError: Jobs needs Redis: "
        "Jobs('redis://...') or app.config['REDIS_URL']"
    )


# --- setting up ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_enqueue_while_the_app_is_not_running_says_where_it_works() -> None:
    with pytest.raises(JobError, match="the job queue is open only while the app runs"):
        await jobs_app.record.enqueue("tea")


def test_task_mistakes_are_configuration_errors() -> None:
    jobs = Jobs()

    @jobs.task(name="same")
    def first() -> None: ...

    with pytest.raises(ConfigurationError, match="two tasks are named 'same'"):

        @jobs.task(name="same")
        def second() -> None: ...

    with pytest.raises(ConfigurationError, match="cannot be negative"):

        @jobs.task(retries=-1)
        def third() -> None: ...


@pytest.mark.anyio
async def test_one_jobs_serves_one_running_app(redis_url: str) -> None:
    jobs = Jobs(redis_url)
    first, second = Carafe(extensions=[jobs]), Carafe(extensions=[jobs])
    async with AsyncTestClient(first):
        with pytest.raises(Exception, match="one Jobs serves one app"):
            async with AsyncTestClient(second):
                pass


def test_a_task_called_directly_runs_here() -> None:
    jobs = Jobs()

    @jobs.task(retries=2)
    def add(a: int, b: int, info: JobInfo) -> int:
        return a + b + info.attempt

    assert add(1, 2, JobInfo("id", "add", 1, 3)) == 4
    assert add.__name__ == "add"
    assert (
        repr(add)
        == f"<Task {__name__}:test_a_task_called_directly_runs_here.<locals>.add retries=2>"
    )


def test_the_worker_command_is_offered_with_the_app() -> None:
    result = CliRunner().invoke(main, ["--app", APP, "worker", "--help"])
    assert result.exit_code == 0, result.output
    assert "Run the app's jobs (its queue on Redis), with the app started." in result.output
    for option in ("--concurrency", "--burst", "--grace", "--log-level", "--log-format"):
        assert option in result.output
    listing = CliRunner().invoke(main, ["--app", APP, "--help"]).output
    assert "worker" in listing


@pytest.mark.parametrize("missing", ["saq", "redis"])
def test_without_the_jobs_extra_the_app_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, missing: str
) -> None:
    monkeypatch.setitem(sys.modules, missing, None)  # import and find_spec: as if absent
    with pytest.raises(
        ConfigurationError, match=r"Jobs need saq and redis: pip install 'carafe\[jobs\]'"
    ):
        Carafe(extensions=[Jobs()])


def test_redis_killed_and_restarted_under_a_running_worker(
    own_redis: RedisProcess, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """While Redis is down an enqueue is a 503 (the handler does not catch it); once it is
    back the same web process enqueues again and the worker that ran all along runs it."""
    lab = Lab(own_redis.url)
    monkeypatch.setitem(jobs_app.app.config, "REDIS_URL", lab.redis_url)
    monkeypatch.setitem(jobs_app.app.config, "JOBS_QUEUE", lab.queue)
    running = Worker(lab.env)
    try:
        with caplog.at_level(logging.WARNING), TestClient(jobs_app.app) as client:
            job_id = client.post("/notes", params={"text": "before"}).json()["job"]
            assert lab.next_done() == "bonjour before (attempt 1 of 1)"
            wait_for_status(client, job_id, "complete")
            own_redis.kill()
            refused = client.post("/notes", params={"text": "during"})
            own_redis.start()
            lab.redis = redis.Redis.from_url(lab.redis_url, socket_timeout=None)
            after = client.post("/notes", params={"text": "after"})
            assert after.status_code == 200, after.text
            assert lab.next_done() == "bonjour after (attempt 1 of 1)"
        assert running.proc.poll() is None, "the worker exited when Redis went away"
    finally:
        log = running.stop()
    assert refused.status_code == 503
    assert refused.headers["retry-after"] == "5"
    assert "Traceback" not in caplog.text
    assert "Traceback" not in log, log
