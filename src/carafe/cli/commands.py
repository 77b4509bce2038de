"""An app's own commands (``app.cli``) and how the ``carafe`` command finds them.

    @app.cli.command()
    @click.argument("name")
    def greet(name: str) -> None:
        click.echo(f"hello {name}")

    @app.cli.command(with_app=True)       # inside the app's lifespan: startup, then
    async def seed() -> None:             # the command, then shutdown
        ...

    $ carafe --app shop:app greet tea     # or CARAFE_APP=shop:app carafe greet tea

``app.cli`` is an ``AppCommands``, a ``click.Group``; ``@app.cli.group()`` makes a
subgroup. An ``async def`` command runs on a fresh event loop. ``with_app=True`` runs
the app's startup (hooks, ``lifespan``, app-scoped dependencies) before the command
and its shutdown after, on the same loop for an async command; a sync one runs in the
command's thread while the app's loop runs beside it (as ``TestClient`` does).

The ``carafe`` group (``CarafeGroup``) loads the app named by ``--app`` or
``CARAFE_APP`` only when a command is not one of its own, and to list the app's
commands in ``carafe --help``. A name that is neither is a one-line error.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, cast

import click

from carafe.cli._target import TargetError, _article, load_target, parse_target

if TYPE_CHECKING:
    from carafe.app import Carafe

__all__ = ["AppCommands", "CarafeGroup", "app_option", "current_app"]

_APP_KEY = "carafe.app"  # ctx.meta: the target given, then the app loaded


class AppCommands(click.Group):
    """``app.cli``: the app's own commands. ``command()`` and ``group()`` take
    ``with_app=True`` to run a command inside the app's lifespan."""

    def __init__(self, *args: Any, app: Carafe, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.app = app

    def command(  # type: ignore[override]
        self, *args: Any, with_app: bool = False, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], click.Command]:
        def decorate(fn: Callable[..., Any]) -> click.Command:
            command: click.Command = click.Group.command(self, *args, **kwargs)(
                _runner(self.app, fn, with_app)
            )
            return command

        return decorate

    def group(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Callable[[Callable[..., Any]], AppCommands]:
        kwargs.setdefault("cls", AppCommands)
        group = click.Group.group(self, *args, app=self.app, **kwargs)
        return cast("Callable[[Callable[..., Any]], AppCommands]", group)


def _runner(app: Carafe, fn: Callable[..., Any], with_app: bool) -> Callable[..., Any]:
    """``fn`` itself, or a sync function running it on a loop and/or in the lifespan."""
    is_async = inspect.iscoroutinefunction(fn)
    if not is_async and not with_app:
        return fn

    @functools.wraps(fn)
    def run(*args: Any, **kwargs: Any) -> Any:
        if is_async:
            return asyncio.run(_in_lifespan(app, fn, with_app, args, kwargs))
        from carafe.testing import _LoopThread

        loop = _LoopThread()  # the app's loop runs in a thread, fn in this one
        try:
            with startup_errors():
                loop.run(app.startup())
            try:
                return fn(*args, **kwargs)
            finally:
                loop.run(app.shutdown())
        finally:
            loop.stop()

    return run


async def _in_lifespan(
    app: Carafe, fn: Callable[..., Any], with_app: bool, args: Any, kwargs: Any
) -> Any:
    if not with_app:
        return await fn(*args, **kwargs)
    with startup_errors():
        await app.startup()
    try:
        return await fn(*args, **kwargs)
    finally:
        await app.shutdown()


@contextlib.contextmanager
def startup_errors() -> Iterator[None]:
    """The app's startup failing is one line, not a traceback."""
    try:
        yield
    except Exception as exc:
        text = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise click.ClickException(f"the app's startup failed: {text}") from None


def _remember(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    if value:
        ctx.meta[_APP_KEY] = value


app_option = click.option(
    "--app",
    "-A",
    metavar="MODULE:APP",
    envvar="CARAFE_APP",
    is_eager=True,
    expose_value=False,
    callback=_remember,
    help="The app whose own commands (app.cli) carafe runs; or CARAFE_APP.",
)


def given_app(ctx: click.Context) -> Carafe | None:
    """The app ``--app`` (or ``CARAFE_APP``) names, loaded once; None when none is named."""
    from carafe.app import Carafe

    root = ctx.find_root()
    value = root.meta.get(_APP_KEY)
    if value is None or isinstance(value, Carafe):
        return value
    try:
        app = load_target(parse_target(value))
    except TargetError as exc:
        raise click.ClickException(f"--app {value}: {exc}") from None
    if not isinstance(app, Carafe):
        what = _article(type(app).__name__)
        raise click.ClickException(f"--app {value} is {what}, not a Carafe app")
    root.meta[_APP_KEY] = app
    return app


def current_app() -> Carafe:
    """The app of the running ``carafe`` command (``--app`` or ``CARAFE_APP``): for the
    commands an extension offers (``Registry.command``)."""
    app = given_app(click.get_current_context())
    if app is None:
        raise click.ClickException("this command needs an app: --app MODULE:APP or CARAFE_APP")
    return app


class CarafeGroup(click.Group):
    """The ``carafe`` group: its own commands, then the ``--app`` app's ``app.cli``."""

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        app = given_app(ctx)
        if app is None:
            return None
        return app.cli.get_command(ctx, cmd_name) or app.registry.commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = set(super().list_commands(ctx))
        try:
            app = given_app(ctx)
        except click.ClickException as exc:
            click.echo(f"Error: {exc.message}", err=True)  # the built-in commands still list
            app = None
        if app is not None:
            names.update(app.cli.list_commands(ctx))
            names.update(app.registry.commands)
        return sorted(names)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            if ctx.find_root().meta.get(_APP_KEY) is None:
                raise click.ClickException(
                    f"no command {name!r} (an app's own commands need --app MODULE:APP "
                    "or CARAFE_APP)"
                )
            raise click.ClickException(
                f"no command {name!r} (neither built in nor one of the app's commands)"
            )
        return super().resolve_command(ctx, args)
