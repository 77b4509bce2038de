"""Running sync code from the event loop: bounded thread pools, context variables kept.

Each app owns a ``ThreadPool`` for its sync handlers, dependencies, hooks and background
tasks (``Carafe(thread_pool_size=...)``), so two apps never share one; Carafe's own
short blocking I/O (reading files, gzip) uses ``IO_POOL``.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_THREADS = 40


class ThreadPool:
    """A bounded pool for sync code, one per app (``Carafe(thread_pool_size=...)``).

    Threads start when first needed. ``run`` keeps the caller's context variables.
    """

    __slots__ = ("_executor", "size")

    def __init__(self, size: int = DEFAULT_THREADS) -> None:
        if size < 1:
            raise ValueError("the thread pool needs at least one thread")
        self.size = size
        self._executor: ThreadPoolExecutor | None = None

    @property
    def executor(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            executor = self._executor = ThreadPoolExecutor(
                max_workers=self.size, thread_name_prefix="carafe"
            )
        return executor

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Call ``fn`` in this pool, with the caller's context variables."""
        loop = asyncio.get_running_loop()
        context = _thread_context(loop)
        if kwargs:
            call = functools.partial(context.run, fn, *args, **kwargs)
            return await loop.run_in_executor(self.executor, call)
        return await loop.run_in_executor(self.executor, context.run, fn, *args)

    def as_async(self, fn: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """``fn`` itself if it is async, else an async function running it in this pool.

        Decided once (at startup): the way every hook and handler is called by its kind.
        """
        if call_kind(fn) == "async":
            return fn

        async def call(*args: Any, **kwargs: Any) -> Any:
            return await self.run(fn, *args, **kwargs)

        return call

    def shutdown(self) -> None:
        """Let the threads finish their work and exit; the pool restarts when used again."""
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)


def call_kind(fn: Callable[..., Any]) -> str:
    """How ``fn`` must be called: ``async``, ``sync``, ``asyncgen`` or ``gen``."""
    target = fn
    if not inspect.isfunction(fn) and not inspect.ismethod(fn) and not isinstance(fn, type):
        target = getattr(fn, "__call__", fn)  # noqa: B004  (a callable instance)
    if inspect.isasyncgenfunction(target):
        return "asyncgen"
    if inspect.isgeneratorfunction(target):
        return "gen"
    if inspect.iscoroutinefunction(target):
        return "async"
    return "sync"


#: Carafe's own blocking I/O outside any app's handlers (files, uploads, gzip) runs here.
IO_POOL = ThreadPool()


#: The event loop that handed the current pool thread its work (see ``run_from_thread``).
_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("carafe_loop")


def _thread_context(loop: asyncio.AbstractEventLoop) -> contextvars.Context:
    """The caller's context variables, plus the loop, for a call run in the pool."""
    context = contextvars.copy_context()
    context.run(_LOOP.set, loop)
    return context


run_sync = IO_POOL.run
"""Call ``fn`` in the I/O pool: for Carafe's own file and compression work."""


def run_from_thread(fn: Callable[..., Coroutine[Any, Any, T]], /, *args: Any, **kwargs: Any) -> T:
    """From sync code in the thread pool: run ``fn(...)`` on the event loop and wait.

    This is how a sync handler uses an async API (``Templates.render_sync``). Called
    from async code it would block the loop it waits for, so it refuses.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise RuntimeError(f"{_name(fn)} was called from async code: await the async version")
    loop = _LOOP.get(None)
    if loop is None:
        raise RuntimeError(
            f"{_name(fn)} works in sync handlers and dependencies (Carafe's thread pool) only"
        )
    return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), loop).result()


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", repr(fn))


_DONE = object()


def _next(iterator: Iterator[T]) -> Any:
    return next(iterator, _DONE)


async def iterate_in_threadpool(
    iterator: Iterator[T], pool: ThreadPool = IO_POOL
) -> AsyncIterator[T]:
    """Advance a blocking iterator in the thread pool, one item at a time.

    Closed or cancelled while a ``next()`` runs in a thread, it waits for that step
    before closing the iterator: a generator cannot be closed mid-step (``ValueError``),
    and its ``finally`` blocks must run.
    """
    step: asyncio.Future[Any] | None = None
    try:
        while True:
            loop = asyncio.get_running_loop()
            context = _thread_context(loop)
            step = loop.run_in_executor(pool.executor, context.run, _next, iterator)
            item = await asyncio.shield(step)
            if item is _DONE:
                return
            yield item
    finally:
        if step is not None and not step.done():
            await asyncio.wait({step})
        close = getattr(iterator, "close", None)
        if close is not None:
            await pool.run(close)
