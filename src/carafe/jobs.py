"""Jobs on a real queue: tasks defined with the app, run by ``carafe worker`` (saq, Redis).

::

    jobs = Jobs()                  # Redis at app.config["REDIS_URL"], or Jobs("redis://...")
    app = Carafe(extensions=[jobs, TypedSettings(Mail, prefix="MAIL_")])

    @jobs.task(retries=3)
    async def send_welcome(address: str, mail: Mail) -> None:   # mail: filled by the worker
        ...

    @app.post("/signup")
    async def signup(address: str) -> dict:
        job_id = await send_welcome.enqueue(address)   # on Redis, as JSON; a 503 if Redis is down
        return {"job": job_id}

    $ carafe --app shop:app worker     # the app started (its lifespan entered), then the jobs

A job's arguments are checked against the task's signature and converted to JSON when
it is enqueued, so a wrong or unserialisable argument fails in the handler
(``JobArgumentError``), not later in the worker; the worker converts them back to the
annotated types (a ``msgspec.Struct``, a ``datetime``...). Parameters annotated with one
of these are filled by the worker instead, as handlers get them:

    Carafe          the app, started in the worker process (``app.state``, ``app.extensions``)
    Config          ``app.config``
    a settings class that ``TypedSettings`` reads: the app's one instance
    Queue           the queue, to enqueue follow-up jobs
    JobInfo         this run: the job's id, the attempt, the attempts allowed
    a type given to ``jobs.provide(tp, factory)``: ``factory(app)``

A task that raises is retried ``retries`` times with exponential backoff (``backoff``
seconds first, doubling, jittered, at most ``max_backoff``); each failure is logged, the
last with its traceback. A job runs at least once, and may run again after a worker is
killed mid-job (a sweep retries it once its ``timeout`` has passed, if it has retries
left): make tasks idempotent.

The queue is saq's (https://github.com/tobymao/saq): see docs/design.md for why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib.util
import inspect
import logging
import typing
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

import msgspec

from carafe.exceptions import CarafeError, ConfigurationError, HTTPError

if TYPE_CHECKING:
    import click
    import saq
    import saq.queue.redis

    from carafe.app import Carafe
    from carafe.extensions import Registry

__all__ = [
    "JobArgumentError",
    "JobError",
    "JobInfo",
    "Jobs",
    "JobsUnavailable",
    "Queue",
    "Task",
]

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")

logger = logging.getLogger("carafe.jobs")

DEFAULT_QUEUE = "carafe"
_INSTALL_HINT = "pip install 'carafe[jobs]'"
_TIMEOUT_MARGIN = 5  # saq's own timeout (which sweeps jobs of dead workers) is ours + this


class JobError(CarafeError):
    """A job could not be enqueued or run (see ``carafe.jobs``)."""


class JobArgumentError(JobError, TypeError):
    """A job's arguments do not fit its task, or cannot be sent as JSON."""


class JobsUnavailable(JobError, HTTPError):
    """The queue (Redis) cannot be reached; the job was not enqueued.

    It is an ``HTTPError`` too: a handler that lets it escape answers 503 with
    ``Retry-After``, and the log gets one line naming the cause.
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        HTTPError.__init__(
            self, 503, "The job queue is unavailable right now; try again shortly.",
            {"Retry-After": "5"},
        )  # fmt: skip

    def __str__(self) -> str:
        return f"the job queue cannot be reached: {self.reason}"


@dataclasses.dataclass(frozen=True, slots=True)
class JobInfo:
    """The run of a job, for a task parameter annotated ``JobInfo``.

    Attributes:
        id: The job's id, as ``enqueue`` returned it: the same in every attempt, so a
            task can use it to do its work only once.
        task: The task's name.
        attempt: 1 for the first run, 2 for the first retry...
        attempts: How many runs are allowed (``retries + 1``).
    """

    id: str
    task: str
    attempt: int
    attempts: int


class Task(Generic[P, R]):
    """A function that runs on the queue; made by ``Jobs.task``.

    Calling it runs the function here, at once (a test can pass the parameters the
    worker would fill); ``await task.enqueue(...)`` puts a job on the queue.
    """

    def __init__(
        self,
        jobs: Jobs,
        fn: Callable[P, R],
        *,
        name: str,
        retries: int,
        backoff: float,
        max_backoff: float,
        timeout: float | None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self._jobs = jobs
        self._is_async = inspect.iscoroutinefunction(fn)
        self._split_for: tuple[_Fillers, tuple[inspect.Signature, dict[str, Filler]]] | None
        self._split_for = None
        functools.update_wrapper(self, fn)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<Task {self.name} retries={self.retries}>"

    async def enqueue(self, *args: Any, **kwargs: Any) -> str:
        """Put a job on the queue: the function's arguments but those the worker fills.

        Returns:
            The job's id.

        Raises:
            JobArgumentError: The arguments do not fit the function or cannot be JSON.
            JobsUnavailable: Redis cannot be reached (a 503 from a handler).
            JobError: The app is not running (enqueue from a handler, a
                ``with_app`` command, or a task).
        """
        return await self._jobs.queue.enqueue(self, *args, **kwargs)

    def enqueue_sync(self, *args: Any, **kwargs: Any) -> str:
        """``enqueue`` from sync code in the app's thread pool: a sync handler, a sync
        dependency, a sync task. It waits for Redis as ``await enqueue`` would."""
        from carafe._concurrency import run_from_thread

        return run_from_thread(self.enqueue, *args, **kwargs)

    @functools.cached_property
    def _hints(self) -> dict[str, Any]:
        # NOTE: resolved when first needed (the app has started), so annotations may name
        # classes defined after the task.
        return typing.get_type_hints(self.fn)

    @functools.cached_property
    def _signature(self) -> inspect.Signature:
        return inspect.signature(self.fn)

    def _split(self, fillers: _Fillers) -> tuple[inspect.Signature, dict[str, Filler]]:
        """The job's own parameters (a signature to bind) and the ones the worker fills;
        worked out once per start of the app (its fillers)."""
        cached = self._split_for
        if cached is not None and cached[0] is fillers:
            return cached[1]
        own: list[inspect.Parameter] = []
        filled: dict[str, Filler] = {}
        for param in self._signature.parameters.values():
            filler = fillers.find(self._hints.get(param.name))
            if filler is None:
                own.append(param)
            else:
                filled[param.name] = filler
        split = self._signature.replace(parameters=own), filled
        self._split_for = (fillers, split)
        return split

    def _payload(self, fillers: _Fillers, args: Any, kwargs: Any) -> dict[str, Any]:
        """The job's arguments as JSON-ready values, checked against the signature."""
        own, _ = self._split(fillers)
        try:
            bound = own.bind(*args, **kwargs)
        except TypeError as exc:
            raise JobArgumentError(f"{self.name}: {exc}") from None
        payload: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = own.parameters[name].kind
            if kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
                raise JobArgumentError(f"{self.name}: *args and **kwargs cannot be queued")
            try:
                plain = msgspec.to_builtins(value)
                msgspec.json.encode(plain)
                if name in self._hints:  # what the worker will do, done now
                    msgspec.convert(plain, self._hints[name], strict=False)
            except (TypeError, msgspec.ValidationError) as exc:
                message = (
                    f"{self.name}: argument {name!r} cannot be sent to the queue "
                    f"({type(value).__name__}): {exc}; job arguments travel as JSON"
                )
                raise JobArgumentError(message) from None
            payload[name] = plain
        return payload

    def _arguments(self, fillers: _Fillers, payload: dict[str, Any], info: JobInfo) -> Any:
        """The keyword arguments of one run: the payload converted back, the rest filled."""
        _, filled = self._split(fillers)
        arguments = {
            name: msgspec.convert(value, self._hints[name], strict=False)
            if name in self._hints
            else value
            for name, value in payload.items()
        }
        for name, filler in filled.items():
            arguments[name] = filler(info)
        return arguments


Filler = Callable[[JobInfo], Any]


class _Fillers:
    """What fills a task's parameters in one app, by annotation (see the module docstring)."""

    def __init__(self, jobs: Jobs, app: Carafe) -> None:
        from carafe.app import Carafe
        from carafe.config import Config, TypedSettings

        self.by_type: list[tuple[type, Filler]] = [
            (tp, _constant(factory, app)) for tp, factory in reversed(jobs.providers)
        ]
        for extension in app.registry.extensions:
            if isinstance(extension, TypedSettings):
                self.by_type.append((extension.settings, _value(extension.value)))
        self.by_type += [
            (Carafe, lambda info: app),
            (Config, lambda info: app.config),
            (Queue, lambda info: jobs.queue),
            (JobInfo, lambda info: info),
        ]

    def find(self, annotation: Any) -> Filler | None:
        if not isinstance(annotation, type):
            return None
        for tp, filler in self.by_type:
            if issubclass(annotation, tp):
                return filler
        return None


def _constant(factory: Callable[[Carafe], Any], app: Carafe) -> Filler:
    return lambda info: factory(app)


def _value(value: Any) -> Filler:
    return lambda info: value


class Queue:
    """The app's job queue; a handler (or a task) receives it by annotation.

    ::

        @app.post("/reports")
        async def report(queue: Queue) -> dict:
            return {"job": await queue.enqueue(build_report, "2024-05")}
    """

    def __init__(self, jobs: Jobs, app: Carafe, backend: saq.queue.redis.RedisQueue) -> None:
        self.app = app
        self.backend = backend
        self._jobs = jobs
        self._fillers = _Fillers(jobs, app)

    @property
    def name(self) -> str:
        """The queue's name in Redis (``Jobs(queue=...)``, ``JOBS_QUEUE`` or ``"carafe"``)."""
        return self.backend.name

    async def enqueue(self, task: Task[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """Put a job for ``task`` on the queue; see ``Task.enqueue``."""
        import saq

        if self._jobs.tasks.get(task.name) is not task:
            raise JobError(f"{task.name} is not a task of this app's Jobs")
        payload = task._payload(self._fillers, args, kwargs)
        job = saq.Job(
            function=task.name,
            kwargs=payload,
            retries=task.retries + 1,
            retry_delay=task.backoff,
            retry_backoff=task.max_backoff,
            timeout=0 if task.timeout is None else int(task.timeout) + _TIMEOUT_MARGIN,
            ttl=self._jobs.keep,
        )
        with _unreachable():
            await self.backend.enqueue(job)
        return job.key

    async def status(self, job_id: str) -> str | None:
        """``"queued"``, ``"active"``, ``"complete"``, ``"failed"``..., or None once a
        finished job's record has expired (``Jobs(keep=...)``) or for an unknown id."""
        with _unreachable():
            job = await self.backend.job(job_id)
        return None if job is None else job.status.value

    async def ping(self) -> None:
        """Raise ``JobsUnavailable`` unless Redis answers."""
        with _unreachable():
            await self.backend.redis.ping()


@contextlib.contextmanager
def _unreachable() -> Iterator[None]:
    from redis.exceptions import ConnectionError as Refused
    from redis.exceptions import TimeoutError as TimedOut

    try:
        yield
    except (Refused, TimedOut, OSError) as exc:
        logger.warning("Job queue unreachable: %s", exc)
        raise JobsUnavailable(str(exc)) from None


class Jobs:
    """The extension: an app's tasks, its queue on Redis, and ``carafe worker``.

    Args:
        redis_url: Where the queue lives; default ``app.config["REDIS_URL"]``, read when
            the app starts.
        queue: The queue's name, so apps sharing a Redis keep apart; default
            ``app.config["JOBS_QUEUE"]``, else ``"carafe"``.
        keep: Seconds Redis keeps a finished job's record (its status, result, error).

    One ``Jobs`` serves one app at a time: ``task.enqueue`` uses that app's connection.
    """

    def __init__(
        self, redis_url: str | None = None, *, queue: str | None = None, keep: int = 3600
    ) -> None:
        self.redis_url = redis_url
        self.queue_name = queue
        self.keep = keep
        self.tasks: dict[str, Task[..., Any]] = {}
        self.providers: list[tuple[type, Callable[[Carafe], Any]]] = []
        self._queue: Queue | None = None

    # --- Setting up -----------------------------------------------------------------

    def install(self, registry: Registry) -> None:
        """Offer ``Queue`` to handlers, open the queue with the app, add ``carafe worker``.

        Raises:
            ConfigurationError: saq or redis is not installed.
        """
        if importlib.util.find_spec("saq") is None or importlib.util.find_spec("redis") is None:
            raise ConfigurationError(f"Jobs need saq and redis: {_INSTALL_HINT}")
        registry.provide(Queue, lambda request: self.queue)
        registry.lifespan(self._connected)
        registry.command(self._worker_command())

    @overload
    def task(self, fn: Callable[P, R]) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = ...,
        retries: int = ...,
        backoff: float = ...,
        max_backoff: float = ...,
        timeout: float | None = ...,
    ) -> Callable[[Callable[P, R]], Task[P, R]]: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        *,
        name: str | None = None,
        retries: int = 0,
        backoff: float = 1.0,
        max_backoff: float = 60.0,
        timeout: float | None = 300.0,
    ) -> Any:
        """Make ``fn`` (async, or sync: run in the app's thread pool) a task.

        Args:
            fn: The function; ``@jobs.task`` or ``@jobs.task(retries=3)``.
            name: The name jobs carry on the queue; default ``module:qualname``. The web
                process and the worker must agree on it.
            retries: Runs after a failure before the job is given up.
            backoff: Seconds before the first retry; each next one waits up to twice as
                long (jittered: a random part of it).
            max_backoff: The longest wait between two runs.
            timeout: Seconds one run may take before it counts as failed (and is
                retried); None for no limit. An async task is cancelled; a sync one
                cannot be, so its thread runs on while the worker stops waiting. The
                timeout also tells a later worker's sweep when a job whose worker died
                may be run again: with None, such a job stays "active".

        Raises:
            ConfigurationError: Another task has the same name.
        """

        def decorate(fn: Callable[..., Any]) -> Task[..., Any]:
            task_name = name or f"{fn.__module__}:{fn.__qualname__}"
            if task_name in self.tasks:
                raise ConfigurationError(f"two tasks are named {task_name!r}")
            if retries < 0 or backoff < 0 or max_backoff < 0:
                raise ConfigurationError(f"{task_name}: retries and backoffs cannot be negative")
            made = Task(
                self,
                fn,
                name=task_name,
                retries=retries,
                backoff=backoff,
                max_backoff=max_backoff,
                timeout=timeout,
            )
            self.tasks[task_name] = made
            return made

        return decorate if fn is None else decorate(fn)

    def provide(self, tp: type[T], factory: Callable[[Carafe], T]) -> None:
        """Fill task parameters annotated ``tp`` (or a subclass) with ``factory(app)``,
        called for each run in the worker: an engine on ``app.state``, say. A later
        registration for the same type wins."""
        self.providers.append((tp, factory))

    # --- Running --------------------------------------------------------------------

    @property
    def queue(self) -> Queue:
        """The running app's queue.

        Raises:
            JobError: The app has not started.
        """
        if self._queue is None:
            raise JobError(
                "the job queue is open only while the app runs: enqueue from a handler, a "
                "task, or an app.cli command with with_app=True"
            )
        return self._queue

    @contextlib.asynccontextmanager
    async def _connected(self, app: Carafe) -> AsyncIterator[None]:
        """The app's lifespan: open the queue's connection pool (Redis is dialled on the
        first enqueue, so the app starts while Redis is down), close it at shutdown."""
        from redis.exceptions import RedisError

        from carafe._redis import redis_client

        if self._queue is not None and self._queue.app is not app:
            raise ConfigurationError("one Jobs serves one app: give each app a Jobs() of its own")
        url = self.redis_url or app.config.get("REDIS_URL")
        if not url:
            raise ConfigurationError(
                "Jobs needs Redis: Jobs('redis://...') or app.config['REDIS_URL']"
            )
        name = self.queue_name or app.config.get("JOBS_QUEUE") or DEFAULT_QUEUE
        # The retry of carafe._redis: without it a job taken or finished on a connection
        # that Redis's restart broke would be lost (its run or its status).
        client = redis_client(url, socket_connect_timeout=5)
        backend = _queue_class()(client, name=name)
        await backend.connect()
        self._queue = Queue(self, app, backend)
        try:
            yield
        finally:
            self._queue = None
            try:
                await backend.disconnect()
            except (RedisError, OSError):  # saq's unsubscribe dials Redis, which is gone
                await client.aclose()

    def _runner(self, task: Task[..., Any], queue: Queue) -> Callable[..., Awaitable[Any]]:
        """What the saq worker calls for ``task``: arguments in, the function run, each
        failure logged before saq retries the job or gives it up."""
        threads = queue.app.threads

        async def run(ctx: dict[str, Any], **payload: Any) -> Any:
            job = ctx["job"]
            info = JobInfo(job.key, task.name, job.attempts, job.retries)
            try:
                arguments = task._arguments(queue._fillers, payload, info)
                call: Any = task.fn if task._is_async else functools.partial(threads.run, task.fn)
                async with asyncio.timeout(task.timeout):
                    result = await call(**arguments)
            except Exception as exc:
                _log_failure(info, exc, task.timeout)
                exc.__carafe_logged__ = True  # type: ignore[attr-defined]
                raise
            logger.info("%s [%s] done (attempt %d)", task.name, job.key, info.attempt)
            try:
                return msgspec.to_builtins(result)
            except TypeError:
                return None  # NOTE: a result that is not JSON is not kept

        return run

    async def work(
        self, app: Carafe, *, concurrency: int = 10, burst: bool = False, grace: float = 30.0
    ) -> None:
        """Run jobs until told to stop (SIGINT, SIGTERM), with ``app`` started around it:
        what ``carafe worker`` does.

        Args:
            app: The app whose tasks run (it is started here, and shut down after).
            concurrency: Jobs run at once (async tasks share the loop; sync ones take a
                thread of the app's pool each).
            burst: Stop once the queue is empty instead of waiting for more.
            grace: Seconds a stop waits for running jobs before cancelling them (a
                cancelled job is queued again).
        """
        from carafe.cli.commands import startup_errors

        with startup_errors():
            await app.startup()
        try:
            queue = self.queue
            await queue.ping()
            worker = _worker_class()(
                queue.backend,
                [(name, self._runner(task, queue)) for name, task in self.tasks.items()],
                concurrency=concurrency,
                burst=burst,
                dequeue_timeout=1.0,  # idle dequeues end within a second when stopping
                shutdown_grace_period_s=grace,  # type: ignore[arg-type]
            )
            names = ", ".join(self.tasks) or "none"
            logger.info("worker on queue %r: %d task(s): %s", queue.name, len(self.tasks), names)
            await worker.start()
        finally:
            await app.shutdown()
        logger.info("worker stopped")

    def _worker_command(self) -> click.Command:
        import click

        levels = click.Choice(["debug", "info", "warning", "error"])

        @click.command("worker")
        @click.option(
            "--concurrency",
            "-c",
            default=10,
            show_default=True,
            type=click.IntRange(1),
            help="Jobs run at once.",
        )
        @click.option("--burst", is_flag=True, help="Exit once the queue is empty.")
        @click.option(
            "--grace",
            default=30.0,
            show_default=True,
            type=click.FloatRange(0),
            help="Seconds a stop waits for running jobs (then they are queued again).",
        )
        @click.option("--log-level", default="info", show_default=True, type=levels)
        @click.option(
            "--log-format",
            default="text",
            show_default=True,
            type=click.Choice(["text", "json"]),
            help="As carafe run's: one JSON object a line for a log collector.",
        )
        def worker(
            concurrency: int, burst: bool, grace: float, log_level: str, log_format: str
        ) -> None:
            """Run the app's jobs (its queue on Redis), with the app started."""
            from carafe.cli.commands import current_app

            app = current_app()
            _configure_logging(log_format, log_level)
            try:
                asyncio.run(self.work(app, concurrency=concurrency, burst=burst, grace=grace))
            except JobsUnavailable as exc:
                raise click.ClickException(str(exc)) from None

        return worker


def _log_failure(info: JobInfo, exc: Exception, timeout: float | None) -> None:
    what = f"timed out after {timeout}s" if isinstance(exc, TimeoutError) else "failed"
    where = f"{info.task} [{info.id}] {what} (attempt {info.attempt} of {info.attempts})"
    if info.attempt < info.attempts:
        logger.warning("%s; retrying: %s: %s", where, type(exc).__name__, exc)
    else:
        logger.error("%s; giving up", where, exc_info=exc)


def _configure_logging(format: str, level: str) -> None:
    import logging.config

    from carafe.logs import logging_config

    logging.config.dictConfig(logging_config(format, level))
    saq_logger = logging.getLogger("saq")
    saq_logger.setLevel(logging.WARNING)  # its per-job lines: ours say it shorter
    saq_logger.addFilter(_already_logged)


def _already_logged(record: logging.LogRecord) -> bool:
    """Drop saq's traceback for a failure the task's runner has logged already."""
    exc = record.exc_info[1] if record.exc_info else None
    return not getattr(exc, "__carafe_logged__", False)


@functools.cache
def _worker_class() -> type[saq.Worker[Any]]:
    import saq

    class Worker(saq.Worker[Any]):
        """saq's worker, whose stop does not wait out the upkeep loops' sleeps.

        NOTE: saq's ``stop`` waits (up to the grace period) for every task, including
        upkeep loops that sleep up to a minute between sweeps; cancelling those first
        makes a stop as long as the running jobs, not the grace period.
        """

        async def upkeep(self) -> list[asyncio.Task[None]]:
            self._upkeep = await super().upkeep()
            return self._upkeep

        async def stop(self) -> None:
            for task in getattr(self, "_upkeep", ()):
                task.cancel()
            await super().stop()

    return Worker


_SWEEP = """
local found = {}
if redis.call('EXISTS', KEYS[1]) == 0 then
    redis.call('SETEX', KEYS[1], ARGV[1], 1)
    for i, id in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
        found[i] = {id, redis.call('GET', id)}
    end
end
return found
"""


@functools.cache
def _queue_class() -> type[saq.queue.redis.RedisQueue]:
    import saq
    from saq.queue.redis import RedisQueue

    class Queue(RedisQueue):
        """saq's Redis queue, whose sweep leaves alone the jobs a worker has just taken.

        NOTE: saq's sweep takes a job in the active list whose status is still "queued"
        for an orphan, but a worker that has just moved it there marks it active a
        moment later; sweeping it then aborts a job that is running, or runs it twice
        (tobymao/saq#277, #124). Here such a job is swept only if it is still queued
        a second later. The rest is saq's sweep, through its public methods.
        """

        async def sweep(self, lock: int = 60, abort: float = 5.0) -> list[str]:
            script = self.redis.register_script(_SWEEP)
            active = self.namespace("active")
            listed = await script(keys=[self.namespace("sweep"), active], args=[lock])
            if any(_maybe_just_taken(self, payload) for _, payload in listed):
                await asyncio.sleep(1)
                still = set(await self.redis.lrange(active, 0, -1))
                current = await self.redis.mget([job_id for job_id, _ in listed])
                listed = [
                    (job_id, now)
                    for (job_id, before), now in zip(listed, current, strict=True)
                    if job_id in still and not (_maybe_just_taken(self, before) and now != before)
                ]
            swept: list[str] = []
            for job_id, payload in listed:
                job = self.deserialize(payload)
                if job is None:
                    await self.redis.lrem(active, 0, job_id)
                    await self.redis.zrem(self.namespace("incomplete"), job_id)
                elif job.status != saq.Status.ACTIVE or job.stuck:
                    logger.info("Sweeping job %s of a worker that is gone", job.key)
                    await self.abort(job, error=self.swept_error_message)
                    with contextlib.suppress(asyncio.TimeoutError):
                        await job.refresh(abort)
                    if job.retryable:
                        await self.retry(job, error=self.swept_error_message)
                    else:
                        await self.finish(job, saq.Status.ABORTED, error=self.swept_error_message)
                else:
                    continue
                swept.append(job_id.decode())
            return swept

    return Queue


def _maybe_just_taken(queue: saq.queue.redis.RedisQueue, payload: bytes | None) -> bool:
    job = queue.deserialize(payload)
    return job is not None and job.status == "queued"
