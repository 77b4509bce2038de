"""Class-based views: one class per resource, its ``get``/``post``/... methods the handlers.

What every method needs is declared once, on the class, and set on ``self`` before the
method runs: path parameters (by name), dependencies, and header/query/cookie markers::

    @app.view("/items/{item_id}")
    class ItemView:
        item_id: int                                       # from the path
        db: Annotated[Database, Depends(get_db)]           # resolved per request
        token: Annotated[str, Header(alias="X-Token")]     # checked for every method
        method_options = {"delete": {"status_code": 204}}  # one method's route options

        async def get(self) -> Item:
            return await self.db.item(self.item_id)

        async def delete(self) -> None:
            await self.db.delete(self.item_id)

        def put(self, item: Item) -> Item:        # sync methods run in the thread pool
            ...

``app.view(path, **options)`` (a decorator) and ``app.add_view(path, View, **options)``
work on routers too. Each method becomes its own route at ``path`` (named after the
class, with ``operationId`` ``<name>_<method>``), so OpenAPI, ``response_model``, status
codes and docstrings work per method; the class attribute ``method_options`` (a dict
from a method's name to route options) overrides the view's options for one method.
The class is instantiated with no arguments for each request.

Everything is analysed at startup: the plan of each method sees one ordinary handler
whose signature is the method's plus the class's declarations.
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, Unpack, get_args, get_origin

from carafe._concurrency import call_kind
from carafe.di import Dependency
from carafe.exceptions import ConfigurationError
from carafe.params import Param

if TYPE_CHECKING:
    from carafe.routing.router import Route, RouteOptions, Router

__all__ = ["VIEW_METHODS", "add_view"]

F = TypeVar("F", bound=Callable[..., Any])

VIEW_METHODS = ("get", "post", "put", "patch", "delete", "head", "options")
_OPTIONS = "method_options"
_PATH_PARAM = re.compile(r"{([^}:]+)")


def add_view(router: Router, path: str, view: type, **options: Unpack[RouteOptions]) -> list[Route]:
    """Register each HTTP method of ``view`` as a route of ``router`` at ``path``.

    Raises:
        ConfigurationError: ``view`` is not a class, has no HTTP method, or a method
            parameter clashes with a class declaration.
    """
    if not isinstance(view, type):
        raise ConfigurationError(f"A view must be a class, not {view!r}")
    shared = _class_parameters(view, set(_PATH_PARAM.findall(path)))
    per_method = _method_options(view)
    name = options.get("name") or view.__name__
    routes = []
    for method in VIEW_METHODS:
        fn = getattr(view, method, None)
        if fn is None:
            continue
        merged: dict[str, Any] = {"name": name, "operation_id": f"{name}_{method}"}
        merged.update(options)
        merged.update(per_method.get(method, {}))
        handler, signature = _handler(view, method, fn, shared)
        routes.append(
            router.add_route(path, handler, (method.upper(),), signature=signature, **merged)
        )
    if not routes:
        raise ConfigurationError(
            f"View {view.__qualname__} has none of the methods {', '.join(VIEW_METHODS)}"
        )
    return routes


def _method_options(view: type) -> dict[str, Any]:
    """The view's ``method_options``, checked: each key one of its HTTP methods."""
    found = getattr(view, _OPTIONS, None) or {}
    if not isinstance(found, dict):
        raise ConfigurationError(f"{view.__qualname__}.{_OPTIONS} must be a dict, not {found!r}")
    for method, options in found.items():
        if method not in VIEW_METHODS or getattr(view, method, None) is None:
            raise ConfigurationError(
                f"{view.__qualname__}.{_OPTIONS} names {method!r}, which is not one of "
                "its HTTP methods"
            )
        if not isinstance(options, dict):
            raise ConfigurationError(
                f"{view.__qualname__}.{_OPTIONS}[{method!r}] must be a dict of route options"
            )
    return found


def _class_parameters(view: type, path_params: set[str]) -> list[inspect.Parameter]:
    """The class's declarations every method shares, as keyword-only parameters."""
    try:
        hints = typing.get_type_hints(view, include_extras=True)
    except (NameError, TypeError) as exc:
        raise ConfigurationError(
            f"Cannot read the annotations of {view.__qualname__}: {exc}"
        ) from exc
    found = []
    for attr, hint in hints.items():
        if get_origin(hint) is typing.ClassVar:
            continue
        value = getattr(view, attr, inspect.Parameter.empty)
        extras = get_args(hint)[1:] if get_origin(hint) is typing.Annotated else ()
        marked = any(isinstance(e, (Dependency, Param)) for e in extras)
        if isinstance(value, (Dependency, Param)) or marked or attr in path_params:
            found.append(
                inspect.Parameter(
                    attr, inspect.Parameter.KEYWORD_ONLY, default=value, annotation=hint
                )
            )
    return found


def _handler(
    view: type, method: str, fn: Callable[..., Any], shared: list[inspect.Parameter]
) -> tuple[Callable[..., Any], inspect.Signature]:
    """A plain handler for ``view.method`` and the parameters it takes: the method's own
    plus the shared ones (the route declares them; the handler takes ``**kwargs``)."""
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError, ValueError) as exc:
        raise ConfigurationError(f"Cannot read the signature of {fn.__qualname__}: {exc}") from exc
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in list(signature.parameters.values())[1:]  # not self
        if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    own_names = {p.name for p in own}
    both = tuple(p.name for p in shared if p.name in own_names)
    only_shared = tuple(p.name for p in shared if p.name not in own_names)
    parameters = own + [p for p in shared if p.name not in own_names]

    if call_kind(fn) == "async":

        async def handler(**kwargs: Any) -> Any:
            return await fn(_instance(view, kwargs, both, only_shared), **kwargs)

    else:

        def handler(**kwargs: Any) -> Any:  # type: ignore[misc]
            return fn(_instance(view, kwargs, both, only_shared), **kwargs)

    returns = hints.get("return", inspect.Signature.empty)
    handler.__name__ = method
    handler.__qualname__ = f"{view.__qualname__}.{method}"
    handler.__doc__ = fn.__doc__
    handler.__module__ = view.__module__
    return handler, inspect.Signature(parameters, return_annotation=returns)


def _instance(
    view: type, kwargs: dict[str, Any], both: tuple[str, ...], only_shared: tuple[str, ...]
) -> Any:
    # PERF: names are sorted into tuples at startup; per request, one setattr each.
    instance = view()
    for name in only_shared:
        setattr(instance, name, kwargs.pop(name))
    for name in both:
        setattr(instance, name, kwargs[name])
    return instance
