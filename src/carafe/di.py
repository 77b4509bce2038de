"""Dependency injection: ``Depends`` marks a parameter filled by calling another function.

The graph is walked once at startup (``carafe._plan``) into a flat, ordered list of
calls; per request the list is run top to bottom. A dependency may itself take
parameters, the request and other dependencies. Within one request each dependency
runs once and its value is shared, unless ``use_cache=False``.

``yield`` dependencies run their code after ``yield`` when the response has been sent
(or, if the handler raised, with the exception thrown in at the ``yield``), in reverse
order, exactly once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast, overload

__all__ = ["Dependency", "Depends"]

T = TypeVar("T")


class Dependency:
    """The marker ``Depends`` returns: which callable, and whether to share its value."""

    __slots__ = ("dependency", "use_cache")

    def __init__(self, dependency: Callable[..., Any] | None, use_cache: bool) -> None:
        self.dependency = dependency
        self.use_cache = use_cache

    def __repr__(self) -> str:
        name = getattr(self.dependency, "__qualname__", repr(self.dependency))
        return f"Depends({name})"


@overload
def Depends(dependency: Callable[..., AsyncIterator[T]], *, use_cache: bool = True) -> T: ...
@overload
def Depends(dependency: Callable[..., Iterator[T]], *, use_cache: bool = True) -> T: ...
@overload
def Depends(dependency: Callable[..., Awaitable[T]], *, use_cache: bool = True) -> T: ...
@overload
def Depends(dependency: Callable[..., T], *, use_cache: bool = True) -> T: ...
@overload
def Depends(dependency: None = None, *, use_cache: bool = True) -> Any: ...
def Depends(dependency: Callable[..., Any] | None = None, *, use_cache: bool = True) -> Any:
    """Fill a parameter with the value of ``dependency``.

    Args:
        dependency: A sync or async function, generator or class. Omitted, the
            parameter's annotation is called (``db: Annotated[DB, Depends()]``).
        use_cache: False calls the dependency again wherever it is used in one request.

    Typed as the dependency's value, so both spellings check under mypy::

        async def handler(user: User = Depends(current_user)) -> dict: ...
        async def handler(user: Annotated[User, Depends(current_user)]) -> dict: ...
    """
    return cast(Any, Dependency(dependency, use_cache))
