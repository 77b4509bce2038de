"""``RequestContext``: the one typed object a request carries for Carafe and its features.

The ASGI scope is a dict any middleware may read or change; Carafe keeps exactly one
key of its own in it, ``CONTEXT_KEY``, holding a ``RequestContext``. Everything the core
and the features remember about one request lives there, under names declared here
(the core's) or under a ``Slot`` a feature declares in its own module (its value)::

    BACKGROUND: Slot[BackgroundTasks] = Slot("background")

    tasks = context_of(scope).get(BACKGROUND)

The context is created on first use (``context_of``), so a request that needs none
pays nothing. A mounted app gets a fresh context (its own features, its own route).

Keys in the scope, all of them:

    CONTEXT_KEY   the RequestContext
    RAISE_KEY     set by carafe.testing's clients: let a server error's exception
                  reach the test instead of becoming a 500 only
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Generic, TypeVar

if TYPE_CHECKING:
    from carafe.routing.dispatch import CompiledRoute
    from carafe.types import Message, Scope

__all__ = ["CONTEXT_KEY", "RAISE_KEY", "RequestContext", "Slot", "context_of"]

T = TypeVar("T")

CONTEXT_KEY = "carafe.context"
"""The scope key that holds the request's `RequestContext`."""
RAISE_KEY = "carafe.raise_server_exceptions"
"""Set in the scope by the test clients: an unhandled error is raised, not answered 500."""

ResponseHook = Callable[["Message"], Awaitable[None]]
Cleanup = Callable[[], Awaitable[None]]


class Slot(Generic[T]):
    """A typed key for one feature's per-request value in a ``RequestContext``."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"Slot({self.name!r})"


class RequestContext:
    """What Carafe and its features keep about one request (or websocket).

    Attributes:
        route: The route the request will reach, found before the app's middleware
            runs when the app has middleware (see ``carafe.routing.dispatch``); None
            for a 404, a 405, a mounted app's path, or an app without middleware (its
            handlers know their own route).
        body: The request body once read, so every reader gets the same bytes.
        response_hooks: ``async hook(start_message)`` run just before the response
            head is sent, success or error (a session saving itself, a cookie set);
            a hook must copy ``message["headers"]`` before changing it.
        cleanups: ``async callback()`` run once the request is over, however it ended
            (uploaded files closed), newest first.
    """

    __slots__ = ("_values", "body", "cleanups", "matched", "response_hooks", "route")

    def __init__(self) -> None:
        self.route: CompiledRoute | None = None
        # The route table's answer for (path, its match) found with ``route``, so that
        # routing after the middleware does not walk the table again for that path.
        self.matched: tuple[str, Any] | None = None
        self.body: bytes | None = None
        self.response_hooks: list[ResponseHook] | None = None
        self.cleanups: list[Cleanup] | None = None
        self._values: dict[Slot[Any], Any] | None = None

    def get(self, slot: Slot[T]) -> T | None:
        """The value a feature stored under ``slot`` for this request, or None."""
        values = self._values
        return None if values is None else values.get(slot)

    def set(self, slot: Slot[T], value: T) -> None:
        """Store a feature's value for the rest of this request."""
        if self._values is None:
            self._values = {}
        self._values[slot] = value

    def pop(self, slot: Slot[T]) -> T | None:
        """Remove and return the value under ``slot`` (None if there was none)."""
        values = self._values
        return None if values is None else values.pop(slot, None)

    def on_response_start(self, hook: ResponseHook) -> None:
        """Run ``hook(start_message)`` just before the response head is sent."""
        if self.response_hooks is None:
            self.response_hooks = [hook]
        else:
            self.response_hooks.append(hook)

    def on_cleanup(self, callback: Cleanup) -> None:
        """Run ``callback()`` once the request is over, however it ended."""
        if self.cleanups is None:
            self.cleanups = [callback]
        else:
            self.cleanups.append(callback)

    async def run_cleanups(self) -> None:
        """Run and forget the cleanup callbacks, newest first."""
        callbacks, self.cleanups = self.cleanups, None
        for callback in reversed(callbacks or ()):
            await callback()

    def __repr__(self) -> str:
        where = self.route.path if self.route is not None else None
        return f"<RequestContext route={where!r}>"


def context_of(scope: Scope) -> RequestContext:
    """The scope's ``RequestContext``, created on first use."""
    context: RequestContext | None = scope.get(CONTEXT_KEY)
    if context is None:
        context = scope[CONTEXT_KEY] = RequestContext()
    return context
