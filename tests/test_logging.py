"""Request ids and request lines (``carafe.middleware.RequestLogMiddleware``), the two line
formats and the config files of ``carafe.logs``, and ``carafe run --log-format json`` for
real."""

from __future__ import annotations

import io
import json
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from carafe import Carafe, Request, WebSocket
from carafe.context import context_of
from carafe.exceptions import ConfigurationError
from carafe.logs import (
    JSONFormatter,
    RequestIdFilter,
    TextFormatter,
    configure,
    current_request_id,
    load_config,
    logging_config,
)
from carafe.middleware import RequestLogMiddleware
from carafe.middleware.requestlog import REQUEST_ID
from carafe.testing import TestClient

HEX32 = re.compile(r"[0-9a-f]{32}")


def make_app() -> Carafe:
    app = Carafe(title="shop")
    app.add_middleware(RequestLogMiddleware)

    @app.get("/items/{item_id}")
    async def read_item(item_id: int) -> dict[str, Any]:
        app.logger.info("reading %d", item_id)
        return {"item_id": item_id, "id": current_request_id()}

    @app.get("/sync")
    def sync_handler(request: Request) -> dict[str, Any]:
        app.logger.warning("from a thread")
        return {"id": current_request_id(), "slot": context_of(request.scope).get(REQUEST_ID)}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("the kettle is empty")

    return app


class Lines(logging.Handler):
    """The formatted lines that reached the ``carafe`` loggers."""

    def __init__(self, formatter: logging.Formatter) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(formatter)
        self.addFilter(RequestIdFilter())
        self.lines: list[str] = []
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self.lines.append(self.format(record))


@pytest.fixture
def captured() -> Iterator[Lines]:
    handler = Lines(JSONFormatter())
    logger = logging.getLogger("carafe")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


def parsed(handler: Lines) -> list[dict[str, Any]]:
    return [json.loads(line) for line in handler.lines]


# --- Request ids ----------------------------------------------------------------------


def test_each_request_gets_a_new_id_echoed_in_the_response(captured: Lines) -> None:
    with TestClient(make_app()) as client:
        first = client.get("/items/1")
        second = client.get("/items/1")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(HEX32.fullmatch(i) for i in ids)
    assert ids[0] != ids[1]
    assert first.json() == {"item_id": 1, "id": ids[0]}


def test_a_well_formed_incoming_id_is_kept(captured: Lines) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items/2", headers={"X-Request-ID": "lb-7f3a:12.x"})
    assert response.headers["x-request-id"] == "lb-7f3a:12.x"
    assert response.json()["id"] == "lb-7f3a:12.x"
    assert {line["request_id"] for line in parsed(captured)} == {"lb-7f3a:12.x"}


@pytest.mark.parametrize("sent", ["two words", "x" * 129, "", "id\u00e9", "a\x01b", "<script>"])
def test_a_malformed_incoming_id_is_replaced(captured: Lines, sent: str) -> None:
    with TestClient(make_app()) as client:
        response = client.get("/items/3", headers={"X-Request-ID": sent.encode("utf-8")})
    assert response.status_code == 200
    assert HEX32.fullmatch(response.headers["x-request-id"])


def test_untrusted_incoming_ids_are_always_replaced() -> None:
    app = Carafe()
    app.add_middleware(RequestLogMiddleware, trust_incoming=False, header="X-Trace")

    @app.get("/")
    async def index() -> str:
        return "ok"

    with TestClient(app) as client:
        response = client.get("/", headers={"X-Trace": "abc"})
    assert HEX32.fullmatch(response.headers["x-trace"])


def test_the_id_is_on_log_lines_from_async_and_sync_handlers(captured: Lines) -> None:
    with TestClient(make_app()) as client:
        sync = client.get("/sync")
        async_ = client.get("/items/4")
    sync_id, async_id = sync.headers["x-request-id"], async_.headers["x-request-id"]
    assert sync.json() == {"id": sync_id, "slot": sync_id}
    by_message = {line["message"]: line for line in parsed(captured)}
    assert by_message["from a thread"]["request_id"] == sync_id
    assert by_message["from a thread"]["logger"] == "carafe.app.shop"
    assert by_message["reading 4"]["request_id"] == async_id
    assert current_request_id() is None  # nothing left behind after the request


def test_an_app_logger_is_a_child_of_carafe() -> None:
    app = Carafe(title="shop")
    assert app.logger is logging.getLogger("carafe.app.shop")
    assert app.logger.parent is not None
    assert app.logger.parent.name in ("carafe.app", "carafe")


# --- Request lines --------------------------------------------------------------------


def test_one_json_line_per_request_with_route_status_and_duration(captured: Lines) -> None:
    with TestClient(make_app()) as client:
        client.get("/items/5?q=1")
        client.get("/nowhere")
    access = [line for line in parsed(captured) if line["logger"] == "carafe.requests"]
    assert [(a["method"], a["path"], a["route"], a["status"]) for a in access] == [
        ("GET", "/items/5", "/items/{item_id}", 200),
        ("GET", "/nowhere", None, 404),
    ]
    assert all(a["level"] == "INFO" and a["duration_ms"] >= 0 for a in access)
    assert all(HEX32.fullmatch(a["request_id"]) for a in access)
    assert access[0]["message"].startswith("GET /items/5 200 ")
    assert access[0]["time"].endswith("Z")


def test_a_server_error_is_logged_with_the_id_and_its_line_says_500(captured: Lines) -> None:
    with TestClient(make_app(), raise_server_exceptions=False) as client:
        response = client.get("/boom")
    assert response.status_code == 500
    lines = parsed(captured)
    error = next(line for line in lines if line["level"] == "ERROR")
    assert "the kettle is empty" in error["exc_info"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert lines[-1]["status"] == 500


def test_no_line_when_the_access_logger_is_quiet(captured: Lines) -> None:
    logging.getLogger("carafe").setLevel(logging.WARNING)
    with TestClient(make_app()) as client:
        assert "x-request-id" in client.get("/items/6").headers
    assert [line for line in parsed(captured) if line["logger"] == "carafe.requests"] == []


def test_websockets_get_an_id_and_other_scopes_pass_through() -> None:
    app = Carafe()
    seen: list[str | None] = []

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        seen.append(current_request_id())
        await websocket.close()

    with TestClient(RequestLogMiddleware(app)) as client, client.websocket_connect("/ws"):
        pass
    assert seen[0] is not None and HEX32.fullmatch(seen[0])


# --- Formats --------------------------------------------------------------------------


def record(**extra: Any) -> logging.LogRecord:
    made = logging.makeLogRecord(
        {"name": "carafe.requests", "levelname": "INFO", "levelno": 20, "msg": "GET / 404 1.0ms"}
    )
    made.__dict__.update(extra)
    return made


def test_text_lines_are_readable_and_coloured_when_asked() -> None:
    plain = TextFormatter(color=False).format(record(status=404, request_id="abc"))
    assert re.fullmatch(r"\d\d:\d\d:\d\d INFO    GET / 404 1\.0ms  \[abc\]", plain)
    coloured = TextFormatter(color=True).format(record(status=404, request_id="abc"))
    assert "\x1b[33m404\x1b[0m" in coloured  # a 4xx in yellow
    assert "\x1b[32mINFO   \x1b[0m" in coloured
    other = logging.makeLogRecord({"name": "carafe.app.shop", "levelname": "ERROR", "msg": "x"})
    assert TextFormatter(color=False).format(other).endswith("ERROR   carafe.app.shop: x")


def test_text_colour_follows_the_terminal_and_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    assert TextFormatter().color is False
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert TextFormatter().color is True


def test_text_lines_show_tracebacks() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        import sys

        failed = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    assert "ValueError: bad" in TextFormatter(color=False).format(failed)


def test_configure_sends_carafe_and_the_users_lines_to_stderr_in_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    names = [*logging_config()["loggers"], "shop.views"]
    loggers = [logging.getLogger(name) for name in names] + [logging.getLogger()]
    saved = [(logger.handlers[:], logger.level, logger.propagate) for logger in loggers]
    app = make_app()

    @app.get("/own")
    def own_logger() -> str:
        logging.getLogger("shop.views").info("from the shop's own logger")
        return "ok"

    try:
        configure("json", level="info")
        logging.getLogger("carafe.app.x").info("hello %s", "there", extra={"user": 7})
        with TestClient(app) as client:
            request_id = client.get("/own").headers["x-request-id"]
    finally:
        for logger, (handlers, level, propagate) in zip(loggers, saved, strict=True):
            logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate
    first, *rest = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert first["message"] == "hello there"
    assert first["user"] == 7
    assert first["request_id"] is None
    own = next(line for line in rest if line["logger"] == "shop.views")
    assert own["message"] == "from the shop's own logger"
    assert own["level"] == "INFO" and own["request_id"] == request_id


def test_logging_config_refuses_an_unknown_format() -> None:
    with pytest.raises(ConfigurationError, match="text, json"):
        logging_config("xml")
    assert logging_config("text", "debug")["loggers"]["carafe"]["level"] == "DEBUG"


# --- Config files ---------------------------------------------------------------------

CONFIG = {"version": 1, "loggers": {"tests.config": {"level": "DEBUG"}}}


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("log.json", json.dumps(CONFIG)),
        ("log.toml", 'version = 1\n[loggers."tests.config"]\nlevel = "DEBUG"\n'),
        ("log.yaml", "version: 1\nloggers:\n  tests.config:\n    level: DEBUG\n"),
    ],
)
def test_config_files_in_three_formats(tmp_path: Path, name: str, text: str) -> None:
    (tmp_path / name).write_text(text)
    assert load_config(tmp_path / name) == CONFIG


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("log.ini", "[loggers]", "expected a .json, .toml or .yaml file"),
        ("log.json", "{not json", "cannot be read"),
        ("log.json", "[1, 2]", "version = 1"),
        ("log.toml", "level = 'x'", "version = 1"),
    ],
)
def test_bad_config_files_are_one_line_errors(
    tmp_path: Path, name: str, text: str, message: str
) -> None:
    (tmp_path / name).write_text(text)
    with pytest.raises(ConfigurationError, match=re.escape(message)) as raised:
        load_config(tmp_path / name)
    assert "\n" not in str(raised.value)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_config(tmp_path / "missing.json")


# --- carafe run for real --------------------------------------------------------------


def test_carafe_run_log_format_json(live_server: Any) -> None:
    server = live_server("examples.demo:app", "--log-format", "json")
    response = httpx.get(f"{server.url}/items/1", headers={"X-Request-ID": "from-the-lb"})
    assert response.headers["x-request-id"] == "from-the-lb"
    assert httpx.get(f"{server.url}/items/x").status_code == 422
    startup, *rest = server.stop().splitlines()
    assert startup.startswith("Carafe serving examples.demo:app on ")
    lines = [json.loads(line) for line in rest]  # every other line is JSON
    access = [line for line in lines if line["logger"] == "carafe.requests"]
    assert [(a["path"], a["route"], a["status"]) for a in access] == [
        ("/items/1", "/items/{item_id}", 200),
        ("/items/x", "/items/{item_id}", 422),
    ]
    assert access[0]["request_id"] == "from-the-lb"
    assert not any(line["logger"] == "uvicorn.access" for line in lines)


OWN_LOGGERS = """
import logging
from carafe import Carafe

app = Carafe(title="own")
log = logging.getLogger("shop.orders")

@app.get("/async")
async def in_async() -> str:
    log.info("an async handler's line")
    return "ok"

@app.get("/sync")
def in_sync() -> str:
    log.warning("a sync handler's line")
    app.logger.info("the app logger's line")
    return "ok"
"""


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_carafe_run_puts_the_request_id_on_the_users_own_lines(
    live_server: Any, tmp_path: Path, log_format: str
) -> None:
    (tmp_path / "own_loggers.py").write_text(OWN_LOGGERS)
    server = live_server(
        "own_loggers:app",
        "--log-format",
        log_format,
        env={
            "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "NO_COLOR": "1",
        },
    )
    ids = {
        path: httpx.get(server.url + path).headers["x-request-id"] for path in ("/async", "/sync")
    }
    output = server.stop()
    expected = {
        "an async handler's line": ("shop.orders", ids["/async"]),
        "a sync handler's line": ("shop.orders", ids["/sync"]),
        "the app logger's line": ("carafe.app.own", ids["/sync"]),
    }
    if log_format == "json":
        lines = [json.loads(line) for line in output.splitlines()[1:]]
        found = {line["message"]: (line["logger"], line["request_id"]) for line in lines}
        assert {message: found.get(message) for message in expected} == expected
    else:
        for message, (logger, request_id) in expected.items():
            assert f"{logger}: {message}  [{request_id}]" in output, output


def test_carafe_run_debug_colours_the_request_lines(live_server: Any, tmp_path: Path) -> None:
    """In development (``--debug``, with its reloader child serving) the request line is
    readable text with a coloured status, even though the output is not a terminal."""
    (tmp_path / "own_loggers.py").write_text(OWN_LOGGERS)
    path = f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"
    env = {"PYTHONPATH": path, "NO_COLOR": ""}  # empty: colours stay on
    server = live_server("own_loggers:app", "--debug", env=env)
    request_id = httpx.get(server.url + "/async").headers["x-request-id"]
    output = server.stop()
    assert "(uvicorn, 1 worker, reload, debug)" in output.splitlines()[0]
    line = next(line for line in output.splitlines() if "GET /async" in line)
    assert "\x1b[32mINFO   \x1b[0m GET /async \x1b[32m200\x1b[0m " in line, repr(line)
    assert line.endswith(f"[{request_id}]\x1b[0m"), repr(line)


@pytest.mark.parametrize("with_ids", [False, True])
def test_carafe_run_log_config_is_applied_by_the_serving_process(
    live_server: Any, tmp_path: Path, with_ids: bool
) -> None:
    """``--log-config`` for real: the user's dictConfig (Carafe's filter and JSON formatter
    named in it, a format of the user's own for uvicorn's lines) is what the serving
    process logs with; its levels stand, so shop.orders' INFO line is kept. Request ids
    come with the request log: ``--log-format`` beside it adds that, the file still rules."""
    (tmp_path / "own_loggers.py").write_text(OWN_LOGGERS)
    handler = {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"}
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "carafe.logs.RequestIdFilter"}},
        "formatters": {
            "json": {"()": "carafe.logs.JSONFormatter"},
            "plain": {"format": "SERVER %(levelname)s %(message)s"},
        },
        "handlers": {
            "json": {**handler, "formatter": "json", "filters": ["request_id"]},
            "plain": {**handler, "formatter": "plain"},
        },
        "loggers": {
            "shop": {"handlers": ["json"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["plain"], "level": "INFO", "propagate": False},
        },
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    env = {"PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    ids = ["--log-format", "json"] if with_ids else []
    server = live_server("own_loggers:app", "--log-config", str(path), *ids, env=env)
    answer = httpx.get(server.url + "/async")
    output = server.stop().splitlines()
    assert "SERVER INFO Application startup complete." in output
    (own,) = [json.loads(line) for line in output if '"shop.orders"' in line]
    assert own["message"] == "an async handler's line" and own["level"] == "INFO"
    assert own["request_id"] == (answer.headers["x-request-id"] if with_ids else None)
