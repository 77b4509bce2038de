"""How ``carafe run`` serves: the startup line, the server, and each serving process.

The command loads the target itself first, so that a mistake is one line and no
server starts. Then:

- one uvicorn process (no reload, one worker) serves that very app object;
- with ``--reload``, ``--workers N`` or granian, the server starts fresh interpreters,
  which take an app only as an import string. ``carafe run`` exports the target as
  ``CARAFE_APP`` (``--factory`` appends ``()``) and debug mode as ``CARAFE_DEBUG``
  (``1``/``0``), the request log's format as ``CARAFE_LOG_FORMAT``, the body timeout as
  ``CARAFE_BODY_TIMEOUT``, and hands the server ``served_app``, a factory that loads
  ``CARAFE_APP`` in each process.

With several workers (``--workers N``, N > 1) and prometheus-client installed,
``worker_metrics`` points ``PROMETHEUS_MULTIPROC_DIR`` at a fresh temporary directory
unless the user set it, so that ``MetricsMiddleware``'s ``/metrics`` adds up every
worker's counts whichever worker answers; the directory is removed when the command
exits.

Every served app goes through ``prepare``: debug mode is turned on when asked, the
request log added when asked (``carafe.cli._logging``), the body timeout
(``carafe.middleware.bodytimeout``) added unless it is 0, and the server's exit signal
is relayed to ``app.stopping`` (see ``_relay_exit_signals``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib.util
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import click

from carafe import _servers
from carafe._stopping import Stopping
from carafe.cli._logging import LOG_FORMAT_ENV
from carafe.cli._target import TargetError, load_target, parse_target

__all__ = ["APP_ENV", "DEBUG_ENV", "Serving", "prepare", "served_app", "worker_metrics"]

APP_ENV = "CARAFE_APP"
DEBUG_ENV = "CARAFE_DEBUG"
PROXIES_ENV = "CARAFE_TRUSTED_PROXIES"
BODY_TIMEOUT_ENV = "CARAFE_BODY_TIMEOUT"
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's multiprocess mode
_SERVED = "carafe.cli._serve:served_app"


@dataclasses.dataclass(frozen=True, slots=True)
class Serving:
    """What ``carafe run`` was asked for; one object instead of a dozen parameters."""

    target: str  # the target the serving processes load (``()`` added for --factory)
    shown: str  # the target as the user wrote it
    server: str
    host: str
    port: int
    reload: bool
    workers: int
    access_log: bool
    log_level: str | None  # None: as the --log-config file says
    log_format: str | None  # Carafe's request log in this format (carafe.cli._logging)
    log_config: dict[str, Any] | None  # the dictConfig the server applies
    debug: bool
    root_path: str
    ws_max_size: int
    graceful_timeout: int
    trusted_proxies: tuple[str, ...] = ()  # ProxyHeadersMiddleware's, in every process
    body_timeout: float = 30.0  # BodyTimeoutMiddleware's, in every process (0: none)

    @property
    def banner(self) -> str:
        """``Carafe serving app:app on http://127.0.0.1:8000 (uvicorn, 1 worker)``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        notes = [self.server, f"{self.workers} worker{'s' if self.workers > 1 else ''}"]
        notes += [name for name, on in (("reload", self.reload), ("debug", self.debug)) if on]
        return f"Carafe serving {self.shown} on http://{host}:{self.port} ({', '.join(notes)})"


def serve(app: Any, serving: Serving) -> None:
    """Print the startup line, then serve until the server exits."""
    granian = serving.server == "granian"
    if granian and importlib.util.find_spec("granian") is None:
        raise click.UsageError("granian is not installed: pip install 'carafe[granian]'")
    click.echo(serving.banner, err=True)
    if granian:
        _granian(serving)
    else:
        _uvicorn(app, serving)


@contextlib.contextmanager
def worker_metrics(workers: int) -> Iterator[None]:
    """With ``workers`` > 1, count Prometheus metrics in a shared temporary directory.

    Sets ``PROMETHEUS_MULTIPROC_DIR`` (when prometheus-client is installed and the user
    has not set it) before the app is loaded and the workers start, so each worker
    inherits it; removes the directory and the variable on the way out.
    """
    if (
        workers < 2
        or os.environ.get(METRICS_DIR_ENV)
        or importlib.util.find_spec("prometheus_client") is None
    ):
        yield
        return
    # NOTE: prometheus-client reads the variable when it is first imported, so this
    # must run before the app (which may import it) is loaded, in this process too.
    directory = tempfile.mkdtemp(prefix="carafe-metrics-")
    os.environ[METRICS_DIR_ENV] = directory
    try:
        yield
    finally:
        os.environ.pop(METRICS_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)


def _export(serving: Serving) -> None:
    """The environment the serving processes inherit (see the module docstring)."""
    os.environ[APP_ENV] = serving.target
    os.environ[DEBUG_ENV] = "1" if serving.debug else "0"
    os.environ[LOG_FORMAT_ENV] = serving.log_format or ""
    os.environ[PROXIES_ENV] = ",".join(serving.trusted_proxies)
    os.environ[BODY_TIMEOUT_ENV] = repr(serving.body_timeout)


def _uvicorn(app: Any, serving: Serving) -> None:
    import uvicorn

    options: dict[str, Any] = {}
    if serving.reload or serving.workers > 1:
        _export(serving)
        target: Any = _SERVED
        options = {"factory": True, "app_dir": os.getcwd()}
    else:
        target = prepare(
            app, serving.debug, serving.log_format, serving.trusted_proxies, serving.body_timeout
        )
    if serving.log_config is not None:
        options["log_config"] = serving.log_config
    uvicorn.run(
        target,
        host=serving.host,
        port=serving.port,
        reload=serving.reload,
        workers=serving.workers,
        access_log=serving.access_log,
        root_path=serving.root_path,
        ws_max_size=serving.ws_max_size,
        # NOTE: uvicorn's own X-Forwarded-* handling trusts 127.0.0.1 unless told not
        # to; granian has none. Carafe's middleware applies one rule under both.
        proxy_headers=False,
        **_servers.uvicorn_settings(),
        lifespan="on",
        log_level=serving.log_level,
        timeout_graceful_shutdown=serving.graceful_timeout,
        **options,
    )


def _granian(serving: Serving) -> None:
    from granian.constants import Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    _export(serving)
    Server(
        serving.shown,  # only names the processes: served_app loads the app
        address=serving.host,
        port=serving.port,
        interface=Interfaces.ASGI,
        workers=serving.workers,
        reload=serving.reload,
        log_access=serving.access_log,
        log_level=LogLevels(serving.log_level or "info"),
        log_dictconfig=serving.log_config,
        url_path_prefix=serving.root_path or None,  # granian's name for the ASGI root_path
        working_dir=Path.cwd(),
        # The worker waits for its connections; after this its parent kills it.
        workers_kill_timeout=serving.graceful_timeout,
        # NOTE: granian's default ends the whole server when one worker dies (an OOM
        # kill, a segfault): every worker stops. uvicorn starts a new one; so does this
        # (granian still exits on a crash loop, a worker dying within 5.5 s of its start).
        respawn_failed_workers=True,
        **_servers.granian_settings(),
    ).serve(target_loader=served_app, wrap_loader=False)


def served_app() -> Any:
    """The app of one serving process: ``CARAFE_APP`` loaded, ``CARAFE_DEBUG`` applied.

    A mistake (a reloaded module that no longer imports) ends the process with one line.
    """
    text = os.environ.get(APP_ENV)
    try:
        if not text:
            raise TargetError(f"{APP_ENV} is not set: start the server with carafe run")
        app = load_target(parse_target(text))
    except TargetError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    log_format = os.environ.get(LOG_FORMAT_ENV) or None
    proxies = tuple(p for p in os.environ.get(PROXIES_ENV, "").split(",") if p)
    body_timeout = float(os.environ.get(BODY_TIMEOUT_ENV) or 0)
    return prepare(app, os.environ.get(DEBUG_ENV) == "1", log_format, proxies, body_timeout)


def prepare(
    app: Any,
    debug: bool,
    log_format: str | None = None,
    proxies: tuple[str, ...] = (),
    body_timeout: float = 0,
) -> Any:
    """Turn debug mode on if asked; add the request log if asked (``--log-format``) and
    the trusted proxies' headers (``--trusted-proxy``, outermost, so the log sees the
    real client); relay the server's exit signal to ``app.stopping``; and wrap the app
    in the body timeout unless it is 0 (``--body-timeout``)."""
    if debug and hasattr(app, "debug"):
        app.debug = True
    if log_format is not None:
        from carafe.middleware.requestlog import RequestLogMiddleware

        app = _wrap(app, RequestLogMiddleware, {})
    if proxies:
        from carafe.middleware.proxy import ProxyHeadersMiddleware

        app = _wrap(app, ProxyHeadersMiddleware, {"trusted": proxies})
    stopping = getattr(app, "stopping", None)
    if isinstance(stopping, Stopping):

        async def relay() -> None:
            _relay_exit_signals(asyncio.get_running_loop(), stopping)

        app.on_startup(relay)
    if body_timeout:
        from carafe.middleware.bodytimeout import BodyTimeoutMiddleware

        # PERF: around the app, not through add_middleware: a Carafe app with middleware
        # matches the route first and guards errors, 3 us per request (bench/middleware.py).
        app = BodyTimeoutMiddleware(app, timeout=body_timeout)
    return app


def _wrap(app: Any, middleware: Any, options: dict[str, Any]) -> Any:
    """``app`` with ``middleware`` outermost: added to a Carafe app, around any other."""
    if hasattr(app, "add_middleware"):
        app.add_middleware(middleware, **options)
        return app
    return middleware(app, **options)


def _relay_exit_signals(loop: asyncio.AbstractEventLoop, stopping: Stopping) -> None:
    """Chain onto the server's SIGINT and SIGTERM handlers: set ``stopping``, then exit.

    Run at startup, in the serving process, when the server's handlers are in place:
    uvicorn sets them with ``signal.signal`` while it serves (and puts back the previous
    ones after, dropping this chain with them); a granian worker through its event
    loop, which leaves a no-op Python handler to chain onto. Signals reach only the
    main thread, so a server that runs the app in another thread (granian's threaded
    workers) is told only by the lifespan shutdown, after its connections close.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for number in (signal.SIGINT, signal.SIGTERM):
        previous = signal.getsignal(number)
        if callable(previous):
            signal.signal(number, functools.partial(_on_exit, loop, stopping, previous))


def _on_exit(
    loop: asyncio.AbstractEventLoop,
    stopping: Stopping,
    previous: Any,
    number: int,
    frame: FrameType | None,
) -> None:
    # A signal handler runs between two bytecodes of the loop's thread: hand the work
    # to the loop rather than waking its futures from here.
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody to tell
        loop.call_soon_threadsafe(stopping.set)
    previous(number, frame)
