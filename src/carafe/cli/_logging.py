"""What ``carafe run``'s logging options become: a level, a request log, a dictConfig.

- ``--log-format text|json`` (``text`` by default with ``--debug``): each serving
  process wraps the app in ``RequestLogMiddleware`` (request ids, one line per
  request), and the server gets ``carafe.logs.logging_config(format, level)``, so
  its own lines share the format; the server's access log is off (the middleware's
  line replaces it). The level defaults to ``info``, as with ``--access-log``.
- ``--log-config PATH``: the server gets that ``dictConfig`` instead (read and
  applied once here, so that a mistake is one line before any server starts); its
  levels stand unless ``--log-level`` is given.
"""

from __future__ import annotations

import copy
import logging.config
import os
from typing import Any

import click

from carafe.exceptions import ConfigurationError
from carafe.logs import load_config, logging_config

__all__ = ["LOG_FORMAT_ENV", "logs"]

LOG_FORMAT_ENV = "CARAFE_LOG_FORMAT"


def logs(options: dict[str, Any]) -> None:
    """Fill ``log_level``, ``log_format``, ``log_config`` (a mapping or None) in place."""
    debug = options["debug"]
    if options["log_format"] is None and debug:
        options["log_format"] = "text"
    log_format = options["log_format"]
    path = options["log_config"]
    if options["log_level"] is None and path is None:
        chatty = options["access_log"] or debug or log_format is not None
        options["log_level"] = "info" if chatty else "warning"
    if log_format is not None:
        options["access_log"] = False  # the request log replaces the server's
    if path is not None:
        try:
            config = load_config(path)
            logging.config.dictConfig(copy.deepcopy(config))
        except ConfigurationError as exc:
            raise click.ClickException(str(exc)) from None
        except (ValueError, TypeError, AttributeError, ImportError) as exc:
            first = str(exc).splitlines()[0]
            raise click.ClickException(f"log config {path!r} cannot be applied: {first}") from None
        options["log_config"] = config
    elif log_format is not None:
        color = True if debug and not os.environ.get("NO_COLOR") else None
        level = options["log_level"]
        options["log_config"] = logging_config(log_format, level, color=color)
