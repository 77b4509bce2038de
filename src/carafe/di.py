"""Dependency injection: ``Depends`` marks a parameter filled by calling another function.

The graph is walked once at startup (``carafe._core.build``) into a flat, ordered list of
calls; per request the list is run top to bottom. A dependency may itself take
parameters, the request and other dependencies. Within one request each dependency
runs once and its value is shared, unless ``use_cache=False``.

``yield`` dependencies run their code after ``yield`` exactly once, newest first: if
the handler raised, with the exception thrown in at the ``yield``. When depends on the
scope:

    request (default)   called for each request that needs it; the code after
                        ``yield`` runs once the response has been sent (after its last
                        chunk, for a streaming response)
    function            called like ``request``, but the code after ``yield`` runs as
                        soon as the handler returns, before the response is sent: a
                        transaction committed there is visible to the client's next
                        request, and a failed commit (or an ``HTTPError`` raised there)
                        becomes the response
    app                 called once, when the app starts (the lifespan startup, or the
                        first request when the server runs no lifespan); a ``yield``
                        dependency's cleanup runs at shutdown. It may take only other
                        app-scoped dependencies (and parameters with defaults).

``app.dependency_overrides[original] = replacement`` swaps a dependency (of either
scope) everywhere, for tests; the app rebuilds its plans when the mapping changes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, Literal, TypeVar, cast, overload

from carafe._concurrency import IO_POOL, ThreadPool
from carafe.exceptions import ConfigurationError

__all__ = ["AppScope", "Dependency", "Depends", "Scope"]

T = TypeVar("T")
Scope = Literal["request", "function", "app"]


class Dependency:
    """The marker ``Depends`` returns: which callable, its scope, whether to share its value."""

    __slots__ = ("dependency", "scope", "scopes", "use_cache")

    def __init__(
        self,
        dependency: Callable[..., Any] | None,
        use_cache: bool,
        scope: Scope = "request",
        scopes: tuple[str, ...] = (),
    ) -> None:
        if scope not in ("request", "function", "app"):
            raise ConfigurationError(
                f"Depends(scope=...) is 'request', 'function' or 'app', not {scope!r}"
            )
        self.dependency = dependency
        self.use_cache = use_cache
        self.scope = scope
        self.scopes = scopes  # OAuth2 scopes it requires (``Security``)

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        extra = "" if self.scope == "request" else f", scope={self.scope!r}"
        if self.scopes:
            extra += f", scopes={list(self.scopes)!r}"
        return f"Depends({name}{extra})"


@overload
def Depends(
    dependency: Callable[..., AsyncIterator[T]], *, use_cache: bool = True, scope: Scope = ...
) -> T: ...
@overload
def Depends(
    dependency: Callable[..., Iterator[T]], *, use_cache: bool = True, scope: Scope = ...
) -> T: ...
@overload
def Depends(
    dependency: Callable[..., Awaitable[T]], *, use_cache: bool = True, scope: Scope = ...
) -> T: ...
@overload
def Depends(dependency: Callable[..., T], *, use_cache: bool = True, scope: Scope = ...) -> T: ...
@overload
def Depends(dependency: None = None, *, use_cache: bool = True, scope: Scope = ...) -> Any: ...
def Depends(
    dependency: Callable[..., Any] | None = None,
    *,
    use_cache: bool = True,
    scope: Scope = "request",
) -> Any:
    """Fill a parameter with the value of ``dependency``.

    Args:
        dependency: A sync or async function, generator or class. Omitted, the
            parameter's annotation is called (``db: Annotated[DB, Depends()]``).
        use_cache: False calls the dependency again wherever it is used in one request.
        scope: ``"request"`` (default) calls it per request, finishing a ``yield`` after
            the response; ``"function"`` finishes it before the response is sent;
            ``"app"`` once per app start, cleaned up at shutdown (a connection pool, a
            loaded ML model).

    Typed as the dependency's value, so both spellings check under mypy::

        async def handler(user: User = Depends(current_user)) -> dict: ...
        async def handler(pool: Annotated[Pool, Depends(make_pool, scope="app")]) -> dict: ...
    """
    return cast(Any, Dependency(dependency, use_cache, scope))


class _AppCall:
    __slots__ = ("args", "fn", "key", "kind")

    def __init__(
        self, key: Any, fn: Callable[..., Any], kind: str, args: tuple[tuple[str, Any], ...]
    ) -> None:
        self.key = key
        self.fn = fn
        self.kind = kind
        self.args = args  # (parameter name, key of the app dependency that fills it)


class AppScope:
    """One app's app-scoped dependencies: what to create, in order, and their values.

    Plans register what they use while the app compiles (sub-dependencies first), and
    read values with ``getter``; ``start`` creates whatever is not created yet, so a
    dependency swapped in by ``dependency_overrides`` after startup is created on the
    next request. ``close`` runs the ``yield`` cleanups, newest first.
    """

    def __init__(self, pool: ThreadPool = IO_POOL) -> None:
        self.pool = pool  # runs the sync ones
        self.values: dict[Any, Any] = {}
        self._calls: dict[Any, _AppCall] = {}
        self._stack: contextlib.AsyncExitStack | None = None
        self._lock = asyncio.Lock()

    def begin(self) -> None:
        """Start a new registration round (the app recompiles): forget what was registered.

        Values already created stay until ``close``; a dependency no longer used (an
        override that was removed) is then not created again at the next start.
        """
        self._calls = {}

    def register(
        self, key: Any, fn: Callable[..., Any], kind: str, args: tuple[tuple[str, Any], ...]
    ) -> None:
        """Remember to create ``fn`` (called with the app values named in ``args``)."""
        self._calls.setdefault(key, _AppCall(key, fn, kind, args))

    def getter(self, key: Any) -> Callable[[Any], Any]:
        """The per-request extractor for the value of the dependency ``key``."""
        values = self.values
        return lambda request: values[key]

    @property
    def pending(self) -> bool:
        """Whether some registered dependency has not been created yet."""
        return any(key not in self.values for key in self._calls)

    async def start(self) -> None:
        """Create every registered dependency that has no value yet, in order."""
        async with self._lock:
            for call in list(self._calls.values()):
                if call.key not in self.values:
                    self.values[call.key] = await self._create(call)

    async def _create(self, call: _AppCall) -> Any:
        kwargs = {name: self.values[key] for name, key in call.args}
        if call.kind == "async":
            return await call.fn(**kwargs)
        if call.kind == "sync":
            return await self.pool.run(call.fn, **kwargs)
        if self._stack is None:
            self._stack = contextlib.AsyncExitStack()
        if call.kind == "asyncgen":
            manager = contextlib.asynccontextmanager(call.fn)(**kwargs)
            return await self._stack.enter_async_context(manager)
        sync_manager = contextlib.contextmanager(call.fn)(**kwargs)
        value = await self.pool.run(sync_manager.__enter__)

        async def leave(*exc_info: Any) -> bool:
            return bool(await self.pool.run(sync_manager.__exit__, *exc_info))

        self._stack.push_async_exit(leave)
        return value

    async def close(self) -> None:
        """Run the cleanups of ``yield`` dependencies (newest first); forget every value."""
        stack, self._stack = self._stack, None
        self.values.clear()
        self._lock = asyncio.Lock()  # the next start may run on another event loop
        if stack is not None:
            await stack.aclose()
