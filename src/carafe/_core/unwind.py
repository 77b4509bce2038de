"""Finishing ``yield`` dependencies: the one unwinder HTTP and websocket endpoints share.

A ``yield`` dependency's code after ``yield`` runs exactly once, newest first: resumed
when all went well, or with the error thrown in at the ``yield``. ``Exits`` keeps two
lists: ``scope="function"`` dependencies finish as soon as the handler returns (before
the response is sent, so a failed commit can still become the response), the others
once the response has been sent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from carafe._concurrency import ThreadPool

__all__ = ["Exits", "unwind"]

Exit = Callable[[BaseException | None], Awaitable[bool]]


class Exits:
    """The open ``yield`` dependencies of one request: ``function`` first, then ``request``."""

    __slots__ = ("function", "request")

    def __init__(self) -> None:
        self.function: list[Exit] = []
        self.request: list[Exit] = []

    async def finish_function(self, error: BaseException | None) -> BaseException | None:
        """Finish the function-scoped dependencies; the error to answer, if any."""
        return await unwind(self.function, error) if self.function else error

    async def finish(self, error: BaseException | None) -> BaseException | None:
        """Finish every dependency still open; the error that remains, if any."""
        if self.function:
            error = await unwind(self.function, error)
        return await unwind(self.request, error) if self.request else error


async def unwind(exits: list[Exit], error: BaseException | None) -> BaseException | None:
    """Run and empty ``exits`` newest first, each seeing the error so far.

    An exit may swallow the error (it returns True: None is passed on) or replace it
    with its own (an ``HTTPError`` for a failed commit); the error left at the end is
    returned.
    """
    while exits:
        leave = exits.pop()
        try:
            if await leave(error):
                error = None
        except BaseException as raised:
            if raised is not error and raised.__context__ is None:
                raised.__context__ = error
            error = raised
    return error


def _name(gen: Any) -> str:
    return getattr(gen, "__qualname__", None) or repr(gen)


class AsyncGenExit:
    """Finishes an async ``yield`` dependency: resumes it, or throws the error in."""

    __slots__ = ("gen",)

    def __init__(self, gen: Any) -> None:
        self.gen = gen

    async def __call__(self, exc: BaseException | None) -> bool:
        gen = self.gen
        if exc is None:
            try:
                await gen.__anext__()
            except StopAsyncIteration:
                return False
            raise RuntimeError(f"Dependency {_name(gen)} yielded more than once")
        try:
            await gen.athrow(exc)
        except StopAsyncIteration:
            return True  # the dependency swallowed the error
        except BaseException as raised:
            if raised is exc:
                return False
            raise
        raise RuntimeError(f"Dependency {_name(gen)} yielded again after an error")


class GenExit:
    """``AsyncGenExit`` for a sync generator, finished in the app's thread pool."""

    __slots__ = ("gen", "pool")

    def __init__(self, gen: Any, pool: ThreadPool) -> None:
        self.gen = gen
        self.pool = pool

    async def __call__(self, exc: BaseException | None) -> bool:
        # NOTE: StopIteration cannot cross a thread pool future, so it is caught there.
        return await self.pool.run(_finish_generator, self.gen, exc)


def _finish_generator(gen: Any, exc: BaseException | None) -> bool:
    if exc is None:
        try:
            next(gen)
        except StopIteration:
            return False
        raise RuntimeError(f"Dependency {_name(gen)} yielded more than once")
    try:
        gen.throw(exc)
    except StopIteration:
        return True
    except BaseException as raised:
        if raised is exc:
            return False
        raise
    raise RuntimeError(f"Dependency {_name(gen)} yielded again after an error")
