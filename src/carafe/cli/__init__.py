"""The ``carafe`` command: ``run`` a server, list ``routes``, print the ``openapi`` document.

    carafe run APP [--host H] [--port P] [--reload/--no-reload] [--workers N]
                   [--server uvicorn|granian] [--factory] [--debug] [--access-log]
                   [--log-level LEVEL] [--log-format text|json] [--log-config PATH]
                   [--graceful-timeout SECONDS] [--root-path PATH] [--env-file PATH]
                   [--header-timeout SECONDS] [--body-timeout SECONDS]
    carafe routes APP [--factory]
    carafe openapi APP [--factory] [--indent N] [--output FILE]
    carafe shell [APP] [--factory] [--plain]
    carafe --app APP NAME ...     an app's own command (``app.cli``; carafe.cli.commands)
    carafe client APP --lang python|typescript [--factory] [--output FILE]

APP is ``module:attribute`` (``examples.demo:app``), an app factory ``module:create_app``
(a plain function is called with no arguments), or a call with literal arguments
(``module:create_app('prod', debug=True)``); ``--factory`` calls the attribute whatever
it looks like. A target that cannot be loaded is a one-line error (see
``carafe.cli._target``).

Plain ``carafe run`` is set for production speed: no per-request access log, uvloop and
httptools when installed, and one startup line naming the address. ``--debug`` (or
``CARAFE_DEBUG=1``) turns on the app's debug mode in every process that serves, and
reloading unless ``--workers`` or ``--no-reload`` says otherwise. On SIGTERM or SIGINT,
``app.stopping`` is set (open event streams and ``Broker`` subscriptions end), open
connections get ``--graceful-timeout`` seconds (10) to finish, then the server exits.
A slow client is bounded on every server: a request head must arrive within
``--header-timeout`` seconds (10; ``carafe._servers``), a body must keep coming
(``--body-timeout``, 30; ``carafe.middleware.bodytimeout``).
How each serving process gets the app and the signal: ``carafe.cli._serve``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import click

from carafe import _servers
from carafe.app import Carafe
from carafe.cli._logging import logs
from carafe.cli._serve import APP_ENV, DEBUG_ENV, Serving, serve, worker_metrics
from carafe.cli._target import TargetError, _article, load_target, parse_target
from carafe.cli.commands import CarafeGroup, app_option
from carafe.config import load_env_file
from carafe.exceptions import ConfigurationError
from carafe.logs import FORMATS
from carafe.routing.router import Route, WebSocketRoute

__all__ = ["load_app", "main"]

_LOG_LEVELS = ("critical", "error", "warning", "info", "debug")
_factory_option = click.option(
    "--factory", is_flag=True, help="APP is a factory: call it (no arguments) for the app."
)


def load_app(target: str, *, factory: bool = False) -> Any:
    """Load ``target`` (see the module docstring) or raise a one-line click error."""
    try:
        return load_target(parse_target(target), factory=factory)
    except TargetError as exc:
        if exc.usage:
            raise click.BadParameter(str(exc), param_hint="APP") from None
        raise click.ClickException(str(exc)) from None


def _env_file(ctx: click.Context, param: click.Parameter, path: str | None) -> None:
    """``--env-file``: into ``os.environ`` before the app is imported; the serving
    processes (reload, workers, granian) inherit it. Set variables win over the file."""
    if path is not None:
        try:
            load_env_file(path)
        except ConfigurationError as exc:
            raise click.BadParameter(str(exc), ctx=ctx, param=param) from None


def _load_carafe(target: str, factory: bool) -> Carafe:
    app = load_app(target, factory=factory)
    if not isinstance(app, Carafe):
        raise click.ClickException(f"{target} is {_article(type(app).__name__)}, not a Carafe app")
    return app


@click.group(cls=CarafeGroup)
@click.version_option(package_name="carafe")
@app_option
def main() -> None:
    """Carafe: serve and inspect Carafe apps. With --app, run the app's own commands too."""


@main.command()
@click.argument("app", envvar=APP_ENV)
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--reload/--no-reload",
    default=None,
    help="Restart when a source file changes (on by default with --debug and one worker).",
)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1), help="Processes.")
@click.option(
    "--server",
    type=click.Choice(["uvicorn", "granian"]),
    default="uvicorn",
    show_default=True,
    help="The server that runs the app.",
)
@_factory_option
@click.option(
    "--debug",
    is_flag=True,
    envvar=DEBUG_ENV,
    help=f"Debug mode in every serving process: tracebacks to loopback clients ({DEBUG_ENV}=1).",
)
@click.option("--access-log", is_flag=True, help="Log every request (off for speed).")
@click.option(
    "--log-level",
    type=click.Choice(_LOG_LEVELS),
    help="The server's log level (default: warning; info with --access-log or --debug).",
)
@click.option(
    "--log-format",
    type=click.Choice(FORMATS),
    help="Carafe's request log with request ids instead of the server's access log, as "
    "readable lines (text; coloured on a terminal) or JSON lines (default: text with --debug).",
)
@click.option(
    "--log-config",
    type=click.Path(dir_okay=False),
    metavar="PATH",
    help="A logging dictConfig (.json, .toml, .yaml) for the server and the app.",
)
@click.option(
    "--graceful-timeout",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    metavar="SECONDS",
    help="On SIGTERM, how long open connections may take to finish before the exit.",
)
@_servers.header_timeout_option
@click.option(
    "--body-timeout",
    default=30.0,
    show_default=True,
    type=click.FloatRange(min=0),
    metavar="SECONDS",
    help="A request body that goes this long without data, or arrives slower than 500 "
    "bytes/s past this allowance, is answered 408 and its connection closed (0: off).",
)
@click.option("--root-path", default="", help="The path prefix a proxy serves the app under.")
@click.option(
    "--trusted-proxy",
    "trusted_proxies",
    multiple=True,
    metavar="ADDRESS",
    help="A proxy (address or network) whose X-Forwarded-* headers are believed; repeat "
    "for more. Without it, no server applies them (carafe.middleware.proxy).",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False),
    callback=_env_file,
    expose_value=False,
    is_eager=True,  # before the options that read the environment (CARAFE_DEBUG)
    help="Load KEY=VALUE lines into the environment first (set variables win).",
)
@click.option(
    "--ws-max-size",
    default=16 * 1024 * 1024,
    show_default=True,
    type=click.IntRange(1),
    help="Largest websocket frame uvicorn accepts, in bytes (routes set their own message limit).",
)
@_servers.websocket_options
def run(app: str, reload: bool | None, factory: bool, **options: Any) -> None:
    """Serve APP: module:attribute, module:factory or module:factory(args...).

    A plain function is a factory and is called with no arguments; arguments in the
    call must be literals. --debug (or CARAFE_DEBUG=1) turns on the app's debug mode in
    every process that serves it, reload children and workers included: the command
    hands them the app as CARAFE_APP and the flag as CARAFE_DEBUG.

    On SIGTERM or SIGINT, app.stopping is set: event streams and the subscriptions of
    a Broker bound with init_app(app) end. Connections still open after
    --graceful-timeout seconds are cut and the server exits.

    With --workers N (N > 1), PROMETHEUS_MULTIPROC_DIR is set to a temporary directory,
    removed at exit, unless it is already set: /metrics adds up every worker's counts.
    """
    debug: bool = options["debug"]
    if reload is None:
        reload = debug and options["workers"] == 1
    if reload and options["workers"] > 1:
        raise click.UsageError("--reload and --workers cannot be combined")
    logs(options)
    with worker_metrics(options["workers"]):  # before the app imports prometheus-client
        application = load_app(app, factory=factory)  # fail here, in one line, not per worker
        call = factory and parse_target(app).call is None
        serving = Serving(target=app + "()" if call else app, shown=app, reload=reload, **options)
        serve(application, serving)


@main.command()
@click.argument("app")
@_factory_option
def routes(app: str, factory: bool) -> None:
    """Print APP's routes: method, path, name and handler."""
    application = _load_carafe(app, factory)
    try:
        compiled = application.compile()
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    rows = [("METHODS", "PATH", "NAME", "HANDLER")]
    for entry in compiled:
        route = entry.route
        if not isinstance(route, Route):  # pragma: no cover - compile() lists HTTP routes
            continue
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
@_factory_option
@click.option("--indent", default=2, show_default=True, type=click.IntRange(0), help="0: compact.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
def openapi(app: str, factory: bool, indent: int, output: str | None) -> None:
    """Print APP's OpenAPI 3.1 document as JSON."""
    from carafe.openapi.schema import build_openapi

    application = _load_carafe(app, factory)
    try:
        document = build_openapi(application)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    text = json.dumps(document, indent=indent or None, ensure_ascii=False)
    if output:
        Path(output).write_text(text + "\n", encoding="utf-8")
    else:
        click.echo(text)


@main.command()
@click.argument("app")
@click.option(
    "--lang",
    type=click.Choice(["python", "typescript"]),
    required=True,
    help="python: one module (msgspec models, Client and AsyncClient over httpx); "
    "typescript: one .ts file over fetch.",
)
@_factory_option
@click.option("--output", "-o", type=click.Path(dir_okay=False), help="Write to a file.")
def client(
    app: str, lang: Literal["python", "typescript"], factory: bool, output: str | None
) -> None:
    """Print a typed client for APP, written from its OpenAPI document."""
    from carafe.clients import generate
    from carafe.openapi.schema import build_openapi

    application = _load_carafe(app, factory)
    try:
        source = generate(build_openapi(application), lang)
    except ConfigurationError as exc:
        raise click.ClickException(str(exc)) from exc
    if output:
        Path(output).write_text(source, encoding="utf-8")
    else:
        click.echo(source, nl=False)


def _add_commands() -> None:
    from carafe.cli._shell import shell

    main.add_command(shell)


_add_commands()

if __name__ == "__main__":  # pragma: no cover
    main()
