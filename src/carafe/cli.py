"""The ``carafe`` command: ``run`` a server, list ``routes``, print the ``openapi`` document.

    carafe run module:app [--host H] [--port P] [--reload] [--workers N]
                          [--server uvicorn|granian] [--access-log] [--debug]
    carafe routes module:app
    carafe openapi module:app [--indent N] [--output FILE]

Plain ``carafe run`` is set for production speed: no per-request access log, uvloop and
httptools when installed. ``--debug`` turns on the app's debug mode and reloading.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path
from typing import Any

import click

from carafe import _servers
from carafe.exceptions import ConfigurationError
from carafe.routing.router import WebSocketRoute

__all__ = ["load_app", "main"]

_DEBUG_ENV = "CARAFE_DEBUG"


def load_app(target: str) -> Any:
    """Import ``module:attribute`` (the current directory is importable)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise click.BadParameter(f"expected module:attribute, got {target!r}", param_hint="APP")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise click.BadParameter(f"no module named {module_name!r}", param_hint="APP") from exc
        raise
    app: Any = module
    for part in attribute.split("."):
        try:
            app = getattr(app, part)
        except AttributeError:
            raise click.BadParameter(
                f"module {module_name!r} has no attribute {attribute!r}", param_hint="APP"
            ) from None
    if os.environ.get(_DEBUG_ENV) == "1" and hasattr(app, "debug"):
        app.debug = True
    return app


@click.group()
@click.version_option(package_name="carafe")
def main() -> None:
    """Carafe: serve and inspect Carafe apps."""


@main.command()
@click.argument("app")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option("--reload", is_flag=True, help="Restart when a source file changes.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option(
    "--server",
    type=click.Choice(["uvicorn", "granian"]),
    default="uvicorn",
    show_default=True,
    help="The server that runs the app.",
)
@click.option("--access-log", is_flag=True, help="Log every request (off for speed).")
@click.option("--debug", is_flag=True, help="Debug mode: tracebacks to loopback clients, reload.")
@click.option("--root-path", default="", help="The path prefix a proxy serves the app under.")
@click.option(
    "--ws-max-size",
    default=16 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest websocket frame uvicorn accepts, in bytes (routes set their own message limit).",
)
@_servers.websocket_options
def run(
    app: str,
    host: str,
    port: int,
    reload: bool,
    workers: int,
    server: str,
    access_log: bool,
    debug: bool,
    root_path: str,
    ws_max_size: int,
) -> None:
    """Serve APP, given as module:attribute (e.g. examples.demo:app)."""
    load_app(app)  # fail here, with a clear message, rather than in every worker
    if debug:
        os.environ[_DEBUG_ENV] = "1"
        reload = True
    if reload and workers > 1:
        raise click.UsageError("--reload and --workers cannot be combined")
    if server == "granian":
        _run_granian(app, host, port, reload, workers, access_log, root_path)
        return
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        reload=reload,
        workers=workers,
        access_log=access_log,
        root_path=root_path,
        ws_max_size=ws_max_size,
        **_servers.uvicorn_settings(),
        lifespan="on",
        log_level="info" if access_log or debug else "warning",
        app_dir=os.getcwd(),
    )


def _run_granian(
    app: str, host: str, port: int, reload: bool, workers: int, access_log: bool, root_path: str
) -> None:
    if importlib.util.find_spec("granian") is None:
        raise click.UsageError("granian is not installed: pip install 'carafe[granian]'")
    from granian.constants import Interfaces
    from granian.server import Server

    Server(
        app,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        reload=reload,
        log_access=access_log,
        url_path_prefix=root_path or None,  # granian's name for the ASGI root_path
        working_dir=Path.cwd(),
        **_servers.granian_settings(),
    ).serve()


@main.command()
@click.argument("app")
def routes(app: str) -> None:
    """Print APP's routes: method, path, name and handler."""
    application = load_app(app)
    try:
        compiled = application.compile()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [("METHODS", "PATH", "NAME", "HANDLER")]
    for entry in compiled:
        route = entry.route
        handler = f"{route.handler.__module__}.{route.handler.__qualname__}"
        rows.append((",".join(route.methods), route.path, route.name, handler))
    for item in application.walk():
        if isinstance(item, WebSocketRoute):
            handler = f"{item.handler.__module__}.{item.handler.__qualname__}"
            rows.append(("WEBSOCKET", item.path, item.name, handler))
    for mount in application.dispatcher.mounts:
        kind = "WSGI" if mount.wsgi else "ASGI"
        rows.append(("*", mount.prefix + "/...", mount.name or "", f"<mounted {kind} app>"))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )


@main.command()
@click.argument("app")
@click.option("--indent", default=2, show_default=True, type=click.IntRange(0), help="0: compact.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
def openapi(app: str, indent: int, output: str | None) -> None:
    """Print APP's OpenAPI 3.1 document as JSON."""
    import json

    from carafe.openapi.schema import build_openapi

    application = load_app(app)
    try:
        document = build_openapi(application)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(document, indent=indent or None, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


if __name__ == "__main__":  # pragma: no cover
    main()
