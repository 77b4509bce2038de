"""Running sync code from the event loop: one bounded thread pool, context variables kept."""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

DEFAULT_THREADS = 40
_executor: ThreadPoolExecutor | None = None
_size = DEFAULT_THREADS


def set_thread_pool_size(size: int) -> None:
    """Bound the pool that sync handlers and dependencies run in (default 40)."""
    global _executor, _size
    if size < 1:
        raise ValueError("the thread pool needs at least one thread")
    if size != _size and _executor is not None:
        _executor.shutdown(wait=False)
        _executor = None
    _size = size


def _pool() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=_size, thread_name_prefix="carafe")
    return _executor


#: The event loop that handed the current pool thread its work (see ``run_from_thread``).
_LOOP: contextvars.ContextVar[asyncio.AbstractEventLoop] = contextvars.ContextVar("carafe_loop")


def _thread_context(loop: asyncio.AbstractEventLoop) -> contextvars.Context:
    """The caller's context variables, plus the loop, for a call run in the pool."""
    context = contextvars.copy_context()
    context.run(_LOOP.set, loop)
    return context


async def run_sync(fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Call ``fn`` in the thread pool, with the caller's context variables."""
    loop = asyncio.get_running_loop()
    context = _thread_context(loop)
    call = functools.partial(context.run, fn, *args, **kwargs) if kwargs else None
    if call is not None:
        return await loop.run_in_executor(_pool(), call)
    return await loop.run_in_executor(_pool(), context.run, fn, *args)


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


async def iterate_in_threadpool(iterator: Iterator[T]) -> AsyncIterator[T]:
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
            step = loop.run_in_executor(_pool(), context.run, _next, iterator)
            item = await asyncio.shield(step)
            if item is _DONE:
                return
            yield item
    finally:
        if step is not None and not step.done():
            await asyncio.wait({step})
        close = getattr(iterator, "close", None)
        if close is not None:
            await run_sync(close)
