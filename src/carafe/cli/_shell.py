"""``carafe shell``: Python with the app, its config and a test client already there.

The namespace holds ``app``, ``client`` (a ``carafe.testing.TestClient`` whose
lifespan is entered: startup hooks and app-scoped dependencies have run), ``carafe``
and, when the app has one, ``config``. IPython is used when installed (``--plain``
asks for the standard console); input that is not a terminal (a pipe, a file) is run
line by line all the same.
"""

from __future__ import annotations

import code
import importlib.util
import sys
from typing import Any

import click

import carafe
from carafe.cli.commands import given_app, startup_errors

__all__ = ["shell"]


def _namespace(app: Any, client: Any) -> dict[str, Any]:
    names: dict[str, Any] = {"app": app, "client": client, "carafe": carafe}
    config = getattr(app, "config", None)
    if config is not None:
        names["config"] = config
    return names


@click.command()
@click.argument("app", required=False)
@click.option("--factory", is_flag=True, help="APP is a factory: call it (no arguments).")
@click.option("--plain", is_flag=True, help="The standard Python console, even with IPython.")
@click.pass_context
def shell(ctx: click.Context, app: str | None, factory: bool, plain: bool) -> None:
    """Python with APP loaded: app, client (a TestClient), config and carafe.

    APP defaults to the group's --app (or CARAFE_APP).
    """
    from carafe.cli import _load_carafe
    from carafe.testing import TestClient

    application = _load_carafe(app, factory) if app else given_app(ctx)
    if application is None:
        raise click.UsageError("name the app: carafe shell MODULE:APP (or --app, CARAFE_APP)")
    client = TestClient(application)
    with startup_errors():
        client.__enter__()
    try:
        names = _namespace(application, client)
        banner = (
            f"Carafe shell: {application.title}, Python {sys.version.split()[0]}\n"
            f"In the namespace: {', '.join(sorted(names))}"
        )
        if not plain and importlib.util.find_spec("IPython") is not None:
            click.echo(banner)  # IPython's own banner is off: this one says what is loaded
            ipython = importlib.import_module("IPython")
            ipython.start_ipython(argv=["--no-banner"], user_ns=names, display_banner=False)
        else:
            code.interact(banner=banner, local=names, exitmsg="")
    finally:
        client.__exit__(None, None, None)
