"""``BackgroundTasks``: work that runs after the response is sent.

::

    @app.post("/signup")
    async def signup(user: NewUser, tasks: BackgroundTasks) -> dict:
        tasks.add(send_welcome_email, user.email)      # sync functions run in threads
        return {"ok": True}                            # the client has this at once

The tasks of one request run one after another, in a task of their own, once a
response with a status below 400 has been sent (a request that failed drops them):
the request is finished for the server, its connection free, while they run. A task
that raises is logged with its traceback (logger ``"carafe"``) and the next one still
runs; other requests never notice.

The app keeps every running task. At shutdown it waits for them up to
``Carafe(background_timeout=...)`` seconds (30 by default), then cancels the rest
and logs how many were cut short. Work that must survive a restart belongs on a
task queue, not here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from carafe._errors import logger
from carafe.context import Slot, context_of

if TYPE_CHECKING:
    from carafe._concurrency import ThreadPool
    from carafe.app import Carafe
    from carafe.context import RequestContext
    from carafe.extensions import Registry
    from carafe.requests import Request

__all__ = ["BackgroundExtension", "BackgroundTasks", "wait_for_background"]

_TASKS: Slot[BackgroundTasks] = Slot("background")
_REGISTRY_KEY = "carafe.background"


class BackgroundTasks:
    """Functions to call after the response is sent. Inject it by annotation.

    It is also an async callable, so ``Response(..., background=tasks)`` works too;
    there the tasks run in the request's own task, after the body is sent.
    """

    __slots__ = ("pool", "tasks")

    def __init__(self, pool: ThreadPool | None = None) -> None:
        self.tasks: list[tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = []
        self.pool = pool  # the app's, for sync tasks (None: Carafe's I/O pool)

    def add(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Call ``fn(*args, **kwargs)`` after the response; sync functions run in threads."""
        self.tasks.append((fn, args, kwargs))

    async def __call__(self) -> None:
        from carafe._concurrency import IO_POOL

        pool = self.pool or IO_POOL
        for fn, args, kwargs in self.tasks:
            try:
                await pool.as_async(fn)(*args, **kwargs)
            except Exception as exc:
                name = getattr(fn, "__qualname__", repr(fn))
                logger.error("Background task %s failed", name, exc_info=exc)

    def __len__(self) -> int:
        return len(self.tasks)

    def __repr__(self) -> str:
        return f"<BackgroundTasks {len(self.tasks)}>"


class _Running:
    """The app's background tasks that have not finished yet."""

    __slots__ = ("tasks",)

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[None]] = set()

    def start(self, tasks: BackgroundTasks) -> None:
        task = asyncio.ensure_future(tasks())
        self.tasks.add(task)  # a strong reference until it is done
        task.add_done_callback(self.tasks.discard)

    async def wait(self, timeout: float) -> None:
        if not self.tasks:
            return
        _, pending = await asyncio.wait(set(self.tasks), timeout=timeout)
        if pending:
            logger.warning(
                "Shutdown: cancelled %d background task(s) still running after %ss",
                len(pending),
                timeout,
            )
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)


def _running(app: Carafe) -> _Running:
    extensions: dict[str, Any] = app.extensions
    running = extensions.get(_REGISTRY_KEY)
    if running is None:
        running = extensions[_REGISTRY_KEY] = _Running()
    return running


async def wait_for_background(app: Carafe) -> None:
    """Wait up to ``app.background_timeout`` seconds for the app's background tasks, then
    cancel them (run when the app shuts down)."""
    running = app.extensions.get(_REGISTRY_KEY)
    if running is not None:
        await running.wait(app.background_timeout)


def _inject(request: Request) -> BackgroundTasks:
    # One object per request, however many parameters ask for it.
    context = context_of(request.scope)
    tasks = context.get(_TASKS)
    if tasks is None:
        tasks = BackgroundTasks(getattr(request.app, "threads", None))
        context.set(_TASKS, tasks)
    return tasks


def _after_response(app: Carafe, context: RequestContext) -> None:
    tasks = context.pop(_TASKS)
    if tasks:
        _running(app).start(tasks)


class BackgroundExtension:
    """Provides ``BackgroundTasks``; only routes that take it pay for running them."""

    def install(self, registry: Registry) -> None:
        registry.provide(BackgroundTasks, _inject, after_response=_after_response)
        registry.on_shutdown(wait_for_background)
