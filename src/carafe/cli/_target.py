"""What the ``carafe`` commands load: an app, or an app factory and its arguments.

    examples.demo:app                         an attribute (dotted: ``pkg.mod:apps.main``)
    myproject:create_app                      a plain ``def`` is a factory, called with ()
    myproject:create_app('prod', debug=True)  a factory called with literal arguments

Arguments are read with ``ast.literal_eval`` (strings, numbers, ``True``/``False``/
``None``, tuples, lists, dicts, sets), never evaluated as code. Every mistake is a
``TargetError`` whose message is one line: the command shows it and exits, with no
traceback. ``usage`` marks the mistakes in the text itself (a missing module or
attribute): the command exits with 2 for those, as for a bad option.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import os
import sys
import traceback
from typing import Any

from carafe.exceptions import ConfigurationError

__all__ = ["Target", "TargetError", "load_target", "parse_target"]

_FORMS = "module:attribute or module:factory(...) with literal arguments"


class TargetError(ConfigurationError):
    """The target cannot be loaded; the message is one line to show as it is."""

    def __init__(self, message: str, *, usage: bool = False) -> None:
        super().__init__(message)
        self.usage = usage


@dataclasses.dataclass(frozen=True, slots=True)
class Target:
    """A parsed target: ``module``, a dotted ``attribute``, and the call's arguments.

    >>> parse_target("shop.app:create_app('x', debug=True)")
    Target(module='shop.app', attribute='create_app', call=(('x',), {'debug': True}))
    """

    module: str
    attribute: str
    call: tuple[tuple[Any, ...], dict[str, Any]] | None = None


def parse_target(text: str) -> Target:
    """Read ``module:attribute`` or ``module:factory(literal, name=literal)``."""
    module, _, rest = text.partition(":")
    rest = rest.strip()
    if not module or not rest:
        raise TargetError(f"expected {_FORMS}, got {text!r}", usage=True)
    if not all(part.isidentifier() for part in module.split(".")):
        raise TargetError(f"{module!r} is not a module name", usage=True)
    try:
        node = ast.parse(rest, mode="eval").body
    except SyntaxError:
        raise TargetError(f"expected {_FORMS}, got {text!r}", usage=True) from None
    call = None
    if isinstance(node, ast.Call):
        args = tuple(_literal(arg) for arg in node.args)
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise TargetError("a factory's arguments cannot use **", usage=True)
            kwargs[keyword.arg] = _literal(keyword.value)
        call = (args, kwargs)
        node = node.func
    return Target(module, _dotted(node, text), call)


def _dotted(node: ast.expr, text: str) -> str:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        raise TargetError(f"expected {_FORMS}, got {text!r}", usage=True)
    parts.append(node.id)
    return ".".join(reversed(parts))


def _literal(node: ast.expr) -> Any:
    if isinstance(node, ast.Starred):
        raise TargetError("a factory's arguments cannot use *", usage=True)
    try:
        return ast.literal_eval(node)
    except ValueError:
        raise TargetError(
            f"a factory's arguments must be literals (strings, numbers, True, False, None, "
            f"lists, dicts), not {ast.unparse(node)!r}",
            usage=True,
        ) from None


def load_target(target: Target, *, factory: bool = False) -> Any:
    """Import the target and return the ASGI app it names or its factory returns.

    The current directory is importable. ``factory`` calls the attribute even when it
    does not look like a factory (a plain function is called anyway).
    """
    module = _import(target.module)
    obj: Any = module
    for part in target.attribute.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise TargetError(
                f"module {target.module!r} has no attribute {target.attribute!r}", usage=True
            ) from None
    name = f"{target.module}:{target.attribute}"
    if target.call is not None or factory or _is_factory(obj):
        args, kwargs = target.call or ((), {})
        return _call_factory(obj, name, args, kwargs)
    _check_app(obj, f"{name} is")
    return obj


def _import(name: str) -> Any:
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if missing and (name == missing or name.startswith(missing + ".")):
            raise TargetError(f"no module named {name!r}", usage=True) from None
        raise TargetError(f"importing {name!r} failed: {_describe(exc)}") from None
    except Exception as exc:
        raise TargetError(f"importing {name!r} failed: {_describe(exc)}") from None


_CARAFE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _describe(exc: BaseException) -> str:
    """``Type: message`` and where it was raised, on one line: the last line outside
    Carafe, so that a ``ConfigurationError`` Carafe raises (a setting missing, say) names
    the user's line that asked for it rather than Carafe's own."""
    text = f"{type(exc).__name__}: {exc}".splitlines()[0]
    if isinstance(exc, SyntaxError):
        return text  # its message already names the file and line
    frames = traceback.extract_tb(exc.__traceback__)
    outside = [frame for frame in frames if not frame.filename.startswith(_CARAFE)]
    if frames:
        where = (outside or frames)[-1]
        text += f" ({where.filename}, line {where.lineno})"
    return text


def _is_factory(obj: Any) -> bool:
    """A plain ``def`` (an ASGI app written as a function is ``async def``)."""
    return inspect.isfunction(obj) and not inspect.iscoroutinefunction(obj)


def _call_factory(obj: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    if not callable(obj):
        raise TargetError(f"{name} is {_article(type(obj).__name__)}, not a factory to call")
    try:
        app = obj(*args, **kwargs)
    except Exception as exc:
        raise TargetError(f"calling {name}() failed: {_describe(exc)}") from None
    if inspect.iscoroutine(app):
        app.close()  # never awaited: close it, or Python warns about it
        raise TargetError(f"{name}() returned a coroutine: an app factory must be a plain def")
    _check_app(app, f"{name}() returned")
    return app


def _check_app(obj: Any, what: str) -> None:
    if inspect.isclass(obj):
        raise TargetError(f"{what} a class, not an ASGI app (an instance of it may be)")
    # A call finds __call__ on the class: an instance attribute of that name is never used.
    call = obj if inspect.isroutine(obj) else getattr(type(obj), "__call__", None)  # noqa: B004
    if call is None or not inspect.iscoroutinefunction(call):
        raise TargetError(f"{what} {_article(type(obj).__name__)}, not an ASGI app")
    if inspect.isroutine(obj):
        try:
            inspect.signature(obj).bind(None, None, None)
        except TypeError:
            raise TargetError(
                f"{what} an async function that does not take (scope, receive, send): "
                "not an ASGI app (an app factory must be a plain def)"
            ) from None


def _article(noun: str) -> str:
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
