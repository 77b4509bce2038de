"""Logging for Carafe apps: request ids on log records, and two formats for the lines.

    from carafe.logs import configure
    configure("json", level="info")          # or "text": readable, coloured on a TTY

``configure`` applies ``logging_config(...)``, a ``logging.config.dictConfig`` mapping
that sends the ``carafe`` loggers (``app.logger``, the request log), uvicorn's,
granian's and the root logger (your own loggers) to stderr through one handler.
``carafe run --log-format`` passes the same mapping to the server; ``--log-config FILE``
passes your own (``load_config``).

The request id is kept in a context variable by
``carafe.middleware.RequestLogMiddleware`` while a request is handled; sync handlers
run in a thread that copies the context, so their records carry it too.
``RequestIdFilter`` copies it onto each record as ``record.request_id`` (None outside
a request); both formatters show it. In your own ``dictConfig``::

    "filters": {"request_id": {"()": "carafe.logs.RequestIdFilter"}},
    "formatters": {"json": {"()": "carafe.logs.JSONFormatter"}},
"""

from __future__ import annotations

import contextvars
import importlib
import json
import logging
import logging.config
import os
import sys
import time
from pathlib import Path
from typing import Any

from carafe.exceptions import ConfigurationError

__all__ = [
    "JSONFormatter",
    "RequestIdFilter",
    "TextFormatter",
    "configure",
    "current_request_id",
    "load_config",
    "logging_config",
]

FORMATS = ("text", "json")
_FORMATTERS = {"text": "carafe.logs.TextFormatter", "json": "carafe.logs.JSONFormatter"}
_SERVER_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "_granian", "granian.access")

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "carafe.request_id", default=None
)
# Not copied into a JSON line: the record's own attributes, uvicorn's coloured twin.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


def current_request_id() -> str | None:
    """The id of the request being handled, or None outside a request (or without
    ``RequestLogMiddleware``)."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Set ``record.request_id`` to the current request's id (or None); lets all pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = _request_id.get()
        return True


def _timestamp(record: logging.LogRecord) -> str:
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{stamp}.{int(record.msecs):03d}Z"


class JSONFormatter(logging.Formatter):
    """One JSON object per record, on one line.

    ``{"time": "2026-12-03T14:03:22.123Z", "level": "INFO", "logger": "carafe.requests",
    "message": "GET /items/3 200 1.2ms", "request_id": "5f0c...", "method": "GET",
    "path": "/items/3", "route": "/items/{item_id}", "status": 200, "duration_ms": 1.2}``

    Fields given with ``extra=`` are added; a traceback is one string in ``exc_info``.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(
            (key, value)
            for key, value in record.__dict__.items()
            if key not in _STANDARD and not key.startswith("_")
        )
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


_LEVEL_COLORS = {"DEBUG": "36", "INFO": "32", "WARNING": "33", "ERROR": "31", "CRITICAL": "1;31"}


def _status_color(status: int) -> str:
    return "32" if status < 300 else "36" if status < 400 else "33" if status < 500 else "31"


def _wants_color() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return bool(os.environ.get("FORCE_COLOR")) or sys.stderr.isatty()


class TextFormatter(logging.Formatter):
    """Readable lines: ``14:03:22 INFO    GET /items/3 200 1.2ms  [5f0c...]``.

    Args:
        color: ANSI colours (level, status); None: when stderr is a terminal, unless
            ``NO_COLOR`` is set (``FORCE_COLOR`` turns them on anyway).
    """

    def __init__(self, color: bool | None = None) -> None:
        super().__init__()
        self.color = _wants_color() if color is None else color

    def _paint(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def format(self, record: logging.LogRecord) -> str:
        clock = time.strftime("%H:%M:%S", time.localtime(record.created))
        level = self._paint(_LEVEL_COLORS.get(record.levelname, "0"), f"{record.levelname:<7}")
        message = record.getMessage()
        status = getattr(record, "status", None)
        if isinstance(status, int) and record.name == "carafe.requests":
            shown = self._paint(_status_color(status), str(status))
            message = message.replace(f" {status} ", f" {shown} ", 1)
        else:
            message = f"{record.name}: {message}"
        line = f"{self._paint('2', clock)} {level} {message}"
        request_id = getattr(record, "request_id", None)
        if request_id:
            line += "  " + self._paint("2", f"[{request_id}]")
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def logging_config(
    format: str = "text", level: str = "info", *, color: bool | None = None
) -> dict[str, Any]:
    """A ``dictConfig`` mapping: Carafe's, uvicorn's and granian's loggers to stderr.

    The root logger gets the same handler and level, so the lines of your own loggers
    (``logging.getLogger(__name__)`` in a handler) have the same format and request id.

    Args:
        format: ``"text"`` (``TextFormatter``) or ``"json"`` (``JSONFormatter``).
        level: The level of those loggers: ``debug``, ``info``, ``warning``...
        color: For ``"text"``: see ``TextFormatter``.
    """
    if format not in FORMATS:
        raise ConfigurationError(f"log format must be one of {', '.join(FORMATS)}, not {format!r}")
    formatter: dict[str, Any] = {"()": _FORMATTERS[format]}
    if format == "text":
        formatter["color"] = color
    logger = {"handlers": ["stderr"], "level": level.upper(), "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "carafe.logs.RequestIdFilter"}},
        "formatters": {"carafe": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "carafe",
                "filters": ["request_id"],
            }
        },
        "loggers": {name: dict(logger) for name in ("carafe", *_SERVER_LOGGERS)},
        "root": {"handlers": ["stderr"], "level": level.upper()},
    }


def configure(format: str = "text", level: str = "info", *, color: bool | None = None) -> None:
    """Apply ``logging_config(format, level, color=color)``."""
    logging.config.dictConfig(logging_config(format, level, color=color))


def load_config(path: str | Path) -> dict[str, Any]:
    """Read a ``dictConfig`` mapping from a ``.json``, ``.toml`` or ``.yaml`` file.

    YAML needs PyYAML. Every mistake is a ``ConfigurationError`` with a one-line message.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read log config {str(path)!r}: {exc.strerror}") from None
    try:
        if suffix == ".json":
            config = json.loads(text)
        elif suffix == ".toml":
            import tomllib

            config = tomllib.loads(text)
        elif suffix in (".yaml", ".yml"):
            config = _yaml(text)
        else:
            raise ConfigurationError(
                f"log config {str(path)!r}: expected a .json, .toml or .yaml file"
            )
    except ConfigurationError:
        raise
    except Exception as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(f"log config {str(path)!r} cannot be read: {first}") from None
    if not isinstance(config, dict) or config.get("version") != 1:
        raise ConfigurationError(
            f"log config {str(path)!r} must be a logging dictConfig mapping with version = 1"
        )
    return config


def _yaml(text: str) -> Any:
    try:
        yaml = importlib.import_module("yaml")  # PyYAML: optional, no stubs needed
    except ImportError:  # pragma: no cover - uvicorn[standard] brings PyYAML
        raise ConfigurationError("a YAML log config needs PyYAML: pip install pyyaml") from None
    return yaml.safe_load(text)
