"""What ``carafe run`` sets on each server beyond the address: the request head's deadline,
websocket keepalive and limits.

``--header-timeout`` (10 s) bounds the time a request head may take, on every server:
granian 2.8 has the setting (``http1_settings.header_read_timeout``, at most 60 s) and
closes the connection; uvicorn has none, so it gets Carafe's protocol
(``carafe._protocols``), which closes the connection too, after a 408 when part of a head
had arrived. The body's deadline (``--body-timeout``) is Carafe's own, on both servers
(``carafe.middleware.bodytimeout``).

For websockets, uvicorn has the settings: ``--ws-ping-interval`` and ``--ws-ping-timeout``
(here) and ``--ws-max-size`` (in ``cli``) go to it. granian 2.8 has none of them: it sends no
keepalive pings and its websocket limits are fixed (16 MiB frames, 64 MiB messages).
Given explicitly with ``--server granian``, such a setting is refused rather than
ignored. What Carafe enforces itself, on both servers, lives in ``websockets``: each
route's ``max_message_size`` (close 1009), and a disconnect seen by a handler that
only sends. docs/deployment.md lists what each server still lacks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from click.core import ParameterSource

__all__ = [
    "GRANIAN_MAX_HEADER_TIMEOUT",
    "HEADER_TIMEOUT",
    "WS_PING_INTERVAL",
    "WS_PING_TIMEOUT",
    "granian_settings",
    "header_timeout_option",
    "uvicorn_settings",
]

HEADER_TIMEOUT = 10.0
"""Seconds a request head may take to arrive, from the connection or the head's first byte."""
GRANIAN_MAX_HEADER_TIMEOUT = 60.0
"""granian takes ``header_read_timeout`` up to 60,000 ms."""

WS_PING_INTERVAL = 20.0
"""Seconds between keepalive pings (uvicorn's default, made explicit)."""
WS_PING_TIMEOUT = 20.0
"""Seconds a ping waits for its pong before the connection is closed with 1011."""

_META_KEY = "carafe.servers"  # click's per-invocation store, not the ASGI scope
_NOT_ON_GRANIAN = {
    "ws_ping_interval": "granian sends no websocket keepalive pings",
    "ws_ping_timeout": "granian sends no websocket keepalive pings",
    "ws_max_size": "granian's websocket limits are fixed (16 MiB frames, 64 MiB messages);"
    " each route's max_message_size still applies",
}

Command = TypeVar("Command", bound=Callable[..., Any])


def websocket_options(command: Command) -> Command:
    """Add ``--ws-ping-interval`` and ``--ws-ping-timeout`` to ``carafe run``.

    The values are kept in the click context for ``uvicorn_settings``; the command's
    own signature does not change.
    """
    interval = click.option(
        "--ws-ping-interval",
        type=click.FloatRange(min=0),
        default=WS_PING_INTERVAL,
        show_default=True,
        expose_value=False,
        callback=_keep,
        help="Seconds between websocket keepalive pings (uvicorn; 0: none).",
    )
    timeout = click.option(
        "--ws-ping-timeout",
        type=click.FloatRange(min=0),
        default=WS_PING_TIMEOUT,
        show_default=True,
        expose_value=False,
        callback=_keep,
        help="Seconds to wait for a pong before closing with 1011 (uvicorn; 0: forever).",
    )
    return interval(timeout(command))


def header_timeout_option(command: Command) -> Command:
    """Add ``--header-timeout`` to ``carafe run``, kept in the click context like the
    websocket options."""
    return click.option(
        "--header-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=HEADER_TIMEOUT,
        show_default=True,
        expose_value=False,
        callback=_keep,
        metavar="SECONDS",
        help="How long a request head may take to arrive; then the connection is closed "
        "(uvicorn: after a 408 when part of it came). At most 60 with granian.",
    )(command)


def _keep(ctx: click.Context, param: click.Parameter, value: float) -> float:
    ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def uvicorn_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The keyword arguments for ``uvicorn.run`` that ``websocket_options`` collected.

    ``0`` becomes ``None``, uvicorn's "off". ``http`` is Carafe's httptools protocol
    with ``--header-timeout`` bound (``carafe._protocols``).
    """
    from carafe._protocols import protocol

    settings = (ctx or click.get_current_context()).meta.get(_META_KEY, {})
    interval = settings.get("ws_ping_interval", WS_PING_INTERVAL)
    timeout = settings.get("ws_ping_timeout", WS_PING_TIMEOUT)
    return {
        "ws_ping_interval": interval or None,
        "ws_ping_timeout": timeout or None,
        "http": protocol(settings.get("header_timeout", HEADER_TIMEOUT)),
    }


def granian_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The keyword arguments for granian's ``Server``; refuses uvicorn-only settings.

    Raises:
        click.UsageError: a websocket setting granian lacks was given explicitly, or a
            ``--header-timeout`` over granian's 60 seconds.
    """
    from granian.http import HTTP1Settings

    ctx = ctx or click.get_current_context()
    for name, why in _NOT_ON_GRANIAN.items():
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT):
            option = "--" + name.replace("_", "-")
            raise click.UsageError(f"{option} is not available with --server granian: {why}.")
    header_timeout = ctx.meta.get(_META_KEY, {}).get("header_timeout", HEADER_TIMEOUT)
    if header_timeout > GRANIAN_MAX_HEADER_TIMEOUT:
        raise click.UsageError(
            f"--header-timeout is at most {GRANIAN_MAX_HEADER_TIMEOUT:g} seconds with"
            f" --server granian, not {header_timeout:g}."
        )
    milliseconds = max(1, round(header_timeout * 1000))
    return {"http1_settings": HTTP1Settings(header_read_timeout=milliseconds)}
