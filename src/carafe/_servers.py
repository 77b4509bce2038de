"""What ``carafe run`` sets on each server beyond the address: websocket keepalive and limits.

uvicorn has the settings: ``--ws-ping-interval`` and ``--ws-ping-timeout`` (here) and
``--ws-max-size`` (in ``cli``) go to it. granian 2.8 has none of them: it sends no
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

__all__ = ["WS_PING_INTERVAL", "WS_PING_TIMEOUT", "granian_settings", "uvicorn_settings"]

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


def _keep(ctx: click.Context, param: click.Parameter, value: float) -> float:
    ctx.meta.setdefault(_META_KEY, {})[param.name] = value
    return value


def uvicorn_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The keyword arguments for ``uvicorn.run`` that ``websocket_options`` collected.

    ``0`` becomes ``None``, uvicorn's "off".
    """
    settings = (ctx or click.get_current_context()).meta.get(_META_KEY, {})
    interval = settings.get("ws_ping_interval", WS_PING_INTERVAL)
    timeout = settings.get("ws_ping_timeout", WS_PING_TIMEOUT)
    return {"ws_ping_interval": interval or None, "ws_ping_timeout": timeout or None}


def granian_settings(ctx: click.Context | None = None) -> dict[str, Any]:
    """The keyword arguments for granian's ``Server``; refuses uvicorn-only settings.

    Raises:
        click.UsageError: a websocket setting granian lacks was given explicitly.
    """
    ctx = ctx or click.get_current_context()
    for name, why in _NOT_ON_GRANIAN.items():
        if ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT):
            option = "--" + name.replace("_", "-")
            raise click.UsageError(f"{option} is not available with --server granian: {why}.")
    return {}
