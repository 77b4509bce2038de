"""The ``carafe`` command: targets and factories, ``routes``, ``openapi``, and real servers
started by ``carafe run`` (debug mode, the startup line, shutdown with open streams)."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from carafe import Carafe
from carafe._stopping import Stopping
from carafe.cli import _serve, load_app, main
from carafe.cli._logging import LOG_FORMAT_ENV
from carafe.middleware import BodyTimeoutMiddleware, RequestLogMiddleware
from carafe.testing import TestClient
from tests.conftest import ROOT

APP = "tests.apps.cli_app"
HTML = {"accept": "text/html"}


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """``carafe run`` exports CARAFE_APP and CARAFE_DEBUG: put them back after each test."""
    for name in (_serve.APP_ENV, _serve.DEBUG_ENV, LOG_FORMAT_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(main, list(args))


# --- routes and openapi ---------------------------------------------------------------


def test_routes_table() -> None:
    result = invoke("routes", "examples.demo:app")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "NAME", "HANDLER"]
    assert any(
        line.split() == ["GET", "/items/{item_id}", "read_item", "examples.demo.read_item"]
        for line in lines
    )
    assert any("/api/health" in line for line in lines)


def test_routes_lists_websockets() -> None:
    result = invoke("routes", "examples.chat.app:app")
    assert result.exit_code == 0, result.output
    assert any(
        line.startswith("WEBSOCKET") and "/ws/{room}" in line for line in result.output.splitlines()
    )


def test_routes_reports_configuration_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_app.py").write_text(
        "from carafe import Carafe\n"
        "app = Carafe()\n"
        "@app.get('/items/{item_id}')\n"
        "async def f() -> str:\n"
        "    return 'x'\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("routes", "broken_app:app")
    assert result.exit_code == 1
    assert "item_id" in result.output


# --- Targets: apps, factories, and one-line errors ---------------------------------


def paths(output: str) -> set[str]:
    return {line.split()[1] for line in output.splitlines()[1:]}


@pytest.mark.parametrize(
    "args",
    [
        [f"{APP}:create_app"],  # a plain function: a factory, called with no arguments
        [f"{APP}:create_app()"],
        [f"{APP}:create_app('hi', debug=True)"],
        ["--factory", f"{APP}:create_app"],
    ],
)
def test_routes_of_a_factory(args: list[str]) -> None:
    result = invoke("routes", *args)
    assert result.exit_code == 0, result.output
    assert {"/hello", "/events", "/ws/{room}"} <= paths(result.output)


def test_openapi_of_a_factory_called_with_literal_arguments() -> None:
    result = invoke("openapi", f"{APP}:create_app('hi', debug=True)", "--indent", "0")
    assert result.exit_code == 0, result.output
    assert "/hello" in json.loads(result.output)["paths"]


def test_routes_lists_mounted_apps() -> None:
    result = invoke("routes", "examples.mounting:app")
    assert result.exit_code == 0, result.output
    assert any(line.startswith("*") and "<mounted" in line for line in result.output.splitlines())


def test_openapi_to_a_file(tmp_path: Path) -> None:
    output = tmp_path / "openapi.json"
    result = invoke("openapi", "examples.demo:app", "--output", str(output))
    assert result.exit_code == 0, result.output
    assert json.loads(output.read_text())["info"]["title"] == "Carafe demo"


def test_openapi_reports_configuration_errors(broken_app: str) -> None:
    result = invoke("openapi", broken_app)
    assert result.exit_code == 1
    assert "Two routes are named 'same'" in result.output


def test_dotted_attributes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "holder.py").write_text(
        "from carafe import Carafe\nclass apps:\n    main = Carafe()\n"
    )
    monkeypatch.chdir(tmp_path)
    assert isinstance(load_app("holder:apps.main"), Carafe)
    assert invoke("routes", "holder:apps['main']").exit_code == 2


def test_factory_arguments_reach_the_factory() -> None:
    app = load_app(f"{APP}:create_app('hi', debug=True)")
    with TestClient(app) as client:
        assert client.get("/hello").json()["greeting"] == "hi"
    assert app.debug is True


@pytest.mark.parametrize(
    ("target", "message", "code"),
    [
        ("nocolon", "expected module:attribute", 2),
        ("no_such_module_xyz:app", "no module named 'no_such_module_xyz'", 2),
        ("examples.demo:nope", "has no attribute 'nope'", 2),
        ("1bad:app", "'1bad' is not a module name", 2),
        (f"{APP}:create_app(", "expected module:attribute", 2),
        (f"{APP}:create_app()()", "expected module:attribute", 2),
        (f"{APP}:create_app(__import__('os').getcwd())", "must be literals", 2),
        (f"{APP}:create_app(*['x'])", "cannot use *", 2),
        (f"{APP}:create_app(**{{}})", "cannot use **", 2),
        (f"{APP}:ITEMS", f"{APP}:ITEMS is a dict, not an ASGI app", 1),
        (f"{APP}:NotAnInstance", "a class, not an ASGI app", 1),
        (
            f"{APP}:failing_factory",
            f"calling {APP}:failing_factory() failed: RuntimeError: DATABASE_URL is not set",
            1,
        ),
        (f"{APP}:not_an_app", f"{APP}:not_an_app() returned a dict, not an ASGI app", 1),
        (f"{APP}:ITEMS()", f"{APP}:ITEMS is a dict, not a factory to call", 1),
        (f"{APP}:create_app(1, 2)", "TypeError: create_app() takes from 0 to 1 positional", 1),
        (f"{APP}:async_factory", "an async function that does not take (scope, receive, send)", 1),
        (f"{APP}:async_factory()", "returned a coroutine: an app factory must be a plain def", 1),
        (f"{APP}:app()", f"calling {APP}:app() failed: TypeError", 1),
    ],
)
@pytest.mark.parametrize("command", ["run", "routes", "openapi"])
def test_bad_targets_are_one_line_errors(
    command: str, target: str, message: str, code: int
) -> None:
    result = invoke(command, target)
    assert result.exit_code == code, result.output
    errors = [line for line in result.output.splitlines() if "Error" in line]
    assert len(errors) == 1, result.output
    assert message in errors[0]
    assert "Traceback" not in result.output


def test_factory_flag_calls_what_does_not_look_like_a_factory() -> None:
    result = invoke("routes", "--factory", f"{APP}:app")
    assert result.exit_code == 1
    assert f"calling {APP}:app() failed: TypeError" in result.output


def test_a_module_that_fails_to_import_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fails_on_import.py").write_text("import os\nvalue = undefined_name\n")
    (tmp_path / "bad_syntax.py").write_text("def broken(:\n")
    (tmp_path / "bad_dependency.py").write_text("import no_such_dependency_xyz\n")
    monkeypatch.chdir(tmp_path)
    result = invoke("run", "fails_on_import:app")
    assert result.exit_code == 1
    assert result.output.strip() == (
        "Error: importing 'fails_on_import' failed: NameError: name 'undefined_name' is not "
        f"defined ({tmp_path / 'fails_on_import.py'}, line 2)"
    )
    result = invoke("run", "bad_syntax:app")
    assert result.exit_code == 1
    assert "importing 'bad_syntax' failed: SyntaxError:" in result.output
    assert "Traceback" not in result.output
    result = invoke("routes", "bad_dependency:app")
    assert result.exit_code == 1
    assert "No module named 'no_such_dependency_xyz'" in result.output


def test_routes_needs_a_carafe_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "raw_asgi.py").write_text("async def app(scope, receive, send):\n    pass\n")
    monkeypatch.chdir(tmp_path)
    result = invoke("routes", "raw_asgi:app")
    assert result.exit_code == 1
    assert "raw_asgi:app is a function, not a Carafe app" in result.output
    assert load_app("raw_asgi:app").__name__ == "app"  # `carafe run` serves it


# --- carafe run: what it hands the server -------------------------------------------


@pytest.fixture
def uvicorn_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append({"target": target, **kw}))
    return calls


def test_run_passes_production_settings_to_uvicorn(uvicorn_calls: list[dict[str, Any]]) -> None:
    result = invoke("run", "examples.demo:app", "--port", "8123")
    assert result.exit_code == 0, result.output
    import examples.demo

    call = uvicorn_calls[0]
    served = call["target"]  # the app already loaded (one process), in the body timeout
    assert isinstance(served, BodyTimeoutMiddleware)
    assert (served.app, served.timeout) == (examples.demo.app, 30.0)
    assert call["access_log"] is False
    assert call["workers"] == 1
    assert call["reload"] is False
    assert call["ws_max_size"] == 16 * 1024 * 1024
    assert call["log_level"] == "warning"
    assert call["timeout_graceful_shutdown"] == 10
    assert examples.demo.app.debug is False
    assert result.output == (
        "Carafe serving examples.demo:app on http://127.0.0.1:8123 (uvicorn, 1 worker)\n"
    )


def test_run_options_reach_uvicorn(uvicorn_calls: list[dict[str, Any]]) -> None:
    args = ["--log-level", "debug", "--graceful-timeout", "3", "--body-timeout", "5"]
    result = invoke("run", f"{APP}:create_app", *args)
    assert result.exit_code == 0, result.output
    call = uvicorn_calls[0]
    assert isinstance(call["target"].app, Carafe)
    assert call["target"].timeout == 5.0
    assert call["log_level"] == "debug"
    assert call["timeout_graceful_shutdown"] == 3
    assert invoke("run", APP + ":app", "--log-level", "loud").exit_code == 2


@pytest.mark.parametrize(
    ("args", "reload", "workers"),
    [(["--debug"], True, 1), (["--debug", "--workers", "2"], False, 2), (["--reload"], True, 1)],
)
def test_processes_started_by_uvicorn_load_the_app_through_carafe(
    uvicorn_calls: list[dict[str, Any]], args: list[str], reload: bool, workers: int
) -> None:
    result = invoke("run", f"{APP}:create_app", "--factory", *args)
    assert result.exit_code == 0, result.output
    call = uvicorn_calls[0]
    assert call["target"] == "carafe.cli._serve:served_app"
    assert call["factory"] is True
    assert (call["reload"], call["workers"]) == (reload, workers)
    debug = "--debug" in args
    assert call["log_level"] == ("info" if debug else "warning")
    # What each process started by uvicorn gets (--factory adds the call):
    import os

    assert os.environ[_serve.APP_ENV] == f"{APP}:create_app()"
    assert os.environ[_serve.DEBUG_ENV] == ("1" if debug else "0")
    served = _serve.served_app()
    assert isinstance(served, BodyTimeoutMiddleware)
    assert served.timeout == 30.0  # CARAFE_BODY_TIMEOUT
    app = served.app
    assert isinstance(app, Carafe)
    assert app.debug is debug


def test_debug_from_the_environment(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CARAFE_DEBUG", "1")
    result = invoke("run", f"{APP}:create_app", "--no-reload")
    assert result.exit_code == 0, result.output
    assert uvicorn_calls[0]["target"].app.debug is True
    assert uvicorn_calls[0]["reload"] is False
    assert "(uvicorn, 1 worker, debug)" in result.output


def test_reload_and_workers_conflict() -> None:
    result = invoke("run", "examples.demo:app", "--reload", "--workers", "2")
    assert result.exit_code == 2
    assert "cannot be combined" in result.output


def test_served_app_without_a_target(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        _serve.served_app()
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        "Error: CARAFE_APP is not set: start the server with carafe run\n"
    )
    monkeypatch.setenv(_serve.APP_ENV, f"{APP}:failing_factory")
    with pytest.raises(SystemExit):
        _serve.served_app()
    assert "DATABASE_URL is not set" in capsys.readouterr().err


class FakeGranian:
    """Stands in for granian's ``Server``: records what ``carafe run`` asked for."""

    made: list[FakeGranian] = []

    def __init__(self, target: str, **options: Any) -> None:
        self.target = target
        self.options = options
        self.made.append(self)

    def serve(self, **options: Any) -> None:
        self.served = options


def test_granian_gets_the_options_and_loads_through_carafe(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import granian.server

    FakeGranian.made.clear()
    monkeypatch.setattr(granian.server, "Server", FakeGranian)
    result = invoke(
        "run", f"{APP}:app", "--server", "granian", "--workers", "2", "--log-level", "error"
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Carafe serving {APP}:app on http://127.0.0.1:8000 (granian, 2 workers)\n"
    )
    (server,) = FakeGranian.made
    assert server.target == f"{APP}:app"
    assert server.options["workers"] == 2
    assert server.options["log_level"] == "error"
    assert server.options["workers_kill_timeout"] == 10
    assert server.options["reload"] is False
    assert server.served == {"target_loader": _serve.served_app, "wrap_loader": False}


def test_granian_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "granian" else real(name)
    )
    result = invoke("run", f"{APP}:app", "--server", "granian")
    assert result.exit_code == 2
    assert "granian is not installed: pip install 'carafe[granian]'" in result.output
    assert "Carafe serving" not in result.output


def test_the_startup_line_brackets_an_ipv6_host(uvicorn_calls: list[dict[str, Any]]) -> None:
    result = invoke("run", f"{APP}:app", "--host", "::1", "--port", "9000", "--reload")
    assert result.output == (
        f"Carafe serving {APP}:app on http://[::1]:9000 (uvicorn, 1 worker, reload)\n"
    )


# --- The serving process: debug mode and the exit signal ----------------------------


@pytest.fixture
def exit_handlers() -> Iterator[list[int]]:
    """Stand-ins for a server's SIGINT/SIGTERM handlers; the real ones come back after."""
    seen: list[int] = []
    saved = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    for number in saved:
        signal.signal(number, lambda number, frame: seen.append(number))
    yield seen
    for number, handler in saved.items():
        signal.signal(number, handler)


@pytest.mark.anyio
async def test_the_exit_signal_sets_stopping_then_reaches_the_server(
    exit_handlers: list[int],
) -> None:
    stopping = Stopping()
    _serve._relay_exit_signals(asyncio.get_running_loop(), stopping)
    signal.raise_signal(signal.SIGTERM)
    await stopping.wait()
    assert exit_handlers == [signal.SIGTERM]


def test_the_exit_signal_after_the_loop_closed_still_reaches_the_server(
    exit_handlers: list[int],
) -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    stopping = Stopping()
    _serve._relay_exit_signals(loop, stopping)
    signal.raise_signal(signal.SIGINT)
    assert exit_handlers == [signal.SIGINT]
    assert not stopping.is_set()


def test_prepare_turns_on_debug_and_relays_only_from_the_main_thread() -> None:
    app = _serve.prepare(Carafe(), debug=True)
    assert app.debug is True
    before = signal.getsignal(signal.SIGTERM)
    with TestClient(app):  # its loop runs in a thread of its own: no handler is chained
        assert signal.getsignal(signal.SIGTERM) is before
    assert app.stopping.is_set()


# --- carafe run for real ------------------------------------------------------------


def test_carafe_run_serves_with_uvicorn(live_server: Any) -> None:
    server = live_server("examples.demo:app")
    response = httpx.get(f"{server.url}/items/1")
    assert response.status_code == 200
    assert response.json() == {"name": "kettle", "price": 24.5, "tags": ["kitchen"]}
    assert httpx.get(f"{server.url}/items/x").status_code == 422
    output = server.stop()
    # One startup line; no access log by default: nothing printed per request.
    assert output.splitlines()[0] == (
        f"Carafe serving examples.demo:app on {server.url} (uvicorn, 1 worker)"
    )
    assert "GET /items/1" not in output
    assert "Application startup complete" not in output


def test_carafe_run_log_level(live_server: Any) -> None:
    server = live_server(f"{APP}:app", "--log-level", "info")
    assert httpx.get(f"{server.url}/hello").status_code == 200
    assert "Application startup complete" in server.stop()


def test_without_debug_a_500_is_bare(live_server: Any) -> None:
    server = live_server(f"{APP}:app")
    response = httpx.get(f"{server.url}/boom", headers=HTML)
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "kettle" not in response.text


@pytest.mark.parametrize(
    "args",
    [
        ["--debug"],  # uvicorn's reloader: the app is served by its child process
        pytest.param(["--debug", "--workers", "2"], marks=pytest.mark.slow),
        pytest.param(["--debug", "--server", "granian"], marks=pytest.mark.slow),
    ],
)
def test_carafe_run_debug_serves_the_debug_page(live_server: Any, args: list[str]) -> None:
    server = live_server(f"{APP}:app", *args)
    assert httpx.get(f"{server.url}/hello").json()["debug"] is True
    response = httpx.get(f"{server.url}/boom", headers=HTML)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("text/html")
    assert "the &lt;kettle&gt; is empty" in response.text


@pytest.mark.parametrize(
    "args",
    [
        [],
        pytest.param(["--workers", "2"], marks=pytest.mark.slow),
        pytest.param(["--server", "granian"], marks=pytest.mark.slow),
    ],
)
def test_carafe_run_serves_a_factory(live_server: Any, args: list[str]) -> None:
    server = live_server(f"{APP}:create_app('from the factory')", *args)
    assert httpx.get(f"{server.url}/hello").json()["greeting"] == "from the factory"
    server = live_server(f"{APP}:create_app", *args)
    assert httpx.get(f"{server.url}/hello").json()["greeting"] == "hello"


@pytest.mark.slow
def test_carafe_run_serves_with_granian(live_server: Any) -> None:
    server = live_server("examples.demo:app", "--server", "granian", "--log-level", "info")
    response = httpx.get(f"{server.url}/api/health")
    assert response.json() == {"status": "ok"}
    output = server.stop()
    assert output.splitlines()[0] == (
        f"Carafe serving examples.demo:app on {server.url} (granian, 1 worker)"
    )
    assert "Starting granian" in output


@pytest.mark.slow
def test_carafe_run_with_two_workers(live_server: Any) -> None:
    server = live_server("examples.demo:app", "--workers", "2")
    for _ in range(10):
        assert httpx.get(f"{server.url}/api/health").status_code == 200


# --- carafe run: SIGTERM with open streams ------------------------------------------


def sigterm_with_open_streams(server: Any, one_worker: bool) -> str:
    """Open an event stream and a websocket relaying a subscription, send SIGTERM, and
    read both to their end. Returns the server's output."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    ws_url = server.url.replace("http://", "ws://") + "/ws/lobby"
    with httpx.stream("GET", f"{server.url}/events", timeout=60) as events, connect(ws_url) as ws:
        lines = events.iter_lines()
        assert next(lines) == "id: 0"
        assert json.loads(ws.recv(timeout=10)) == {"joined": "lobby"}
        if one_worker:  # the broker is in memory: one worker's
            httpx.post(f"{server.url}/rooms/lobby", params={"text": "hi"})
            assert json.loads(ws.recv(timeout=10)) == {"text": "hi"}
        server.proc.send_signal(signal.SIGTERM)
        # Both end cleanly: the last chunk of the stream arrives (httpx raises
        # RemoteProtocolError for a cut one), the websocket gets a close frame.
        rest = list(lines)
        assert rest[-1] == ""
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                ws.recv(timeout=60)
        assert closed.value.rcvd is not None
        assert closed.value.rcvd.code in (1000, 1001, 1012)
    server.proc.wait(timeout=60)
    return str(server.stop())


@pytest.mark.parametrize(
    "args",
    [
        [],
        pytest.param(["--workers", "2"], marks=pytest.mark.slow),
        pytest.param(["--debug"], marks=pytest.mark.slow),
        pytest.param(["--server", "granian"], marks=pytest.mark.slow),
    ],
)
def test_sigterm_ends_open_streams_and_the_server_exits(live_server: Any, args: list[str]) -> None:
    # A graceful timeout far longer than the test: the server exits because the
    # streams ended, not because it gave up on them.
    # sigterm_with_open_streams waits 60 s at most for the exit, so a server that had to
    # be killed at the 300 s timeout fails there. Granian may still log "Killing worker-1
    # after it refused to gracefully stop" for a worker that has already exited: its
    # is_alive() can lag the join (granian/server/common.py, _stop_workers), 1 run in 8
    # here; so only uvicorn's line, which has no such race, is checked.
    server = live_server(f"{APP}:app", "--graceful-timeout", "300", *args)
    output = sigterm_with_open_streams(server, one_worker="--workers" not in args)
    assert "timeout graceful shutdown exceeded" not in output


@pytest.mark.parametrize(
    ("args", "gave_up"),
    [
        ([], "Cancel 1 running task(s), timeout graceful shutdown exceeded"),
        (["--server", "granian"], "Killing worker-1 after it refused to gracefully stop"),
    ],
)
def test_a_stream_that_never_ends_is_cut_at_the_graceful_timeout(
    live_server: Any, args: list[str], gave_up: str
) -> None:
    server = live_server(f"{APP}:app", "--graceful-timeout", "1", *args)
    with httpx.stream("GET", f"{server.url}/lines", timeout=60) as lines:
        numbers = lines.iter_lines()
        assert next(numbers) == "0"
        server.proc.send_signal(signal.SIGTERM)
        with pytest.raises(httpx.RemoteProtocolError):
            list(numbers)  # JSON Lines do not end on app.stopping
    server.proc.wait(timeout=60)
    assert gave_up in server.stop()


# --- The distribution -----------------------------------------------------------------


# --- An app's own commands, the shell, logging options ------------------------------

COMMANDS = "tests.apps.cli_commands"


def test_an_app_command_with_arguments() -> None:
    result = invoke("--app", f"{COMMANDS}:app", "greet", "tea", "--shout")
    assert (result.exit_code, result.output) == (0, "HELLO TEA\n")


def test_the_app_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARAFE_APP", f"{COMMANDS}:app")
    assert invoke("greet", "tea").output == "hello tea\n"
    assert invoke("routes", "examples.demo:app").exit_code == 0  # built-ins still win


@pytest.mark.parametrize(
    ("args", "output"),
    [
        (["seed"], "seeding, started 1\nshut down\n"),
        (["aseed"], "async seeding, started 1\nshut down\n"),
        (["db", "migrate"], "migrated, started 1\nshut down\n"),
        (["ping"], "pong, started 0\n"),  # async, but not inside the lifespan
    ],
)
def test_commands_inside_the_lifespan(args: list[str], output: str) -> None:
    from tests.apps import cli_commands

    cli_commands.app.state.started = 0
    result = invoke("--app", f"{COMMANDS}:app", *args)
    assert (result.exit_code, result.output) == (0, output)


@pytest.mark.parametrize("command", ["work", "awork"])
def test_a_failing_startup_is_one_line(command: str) -> None:
    result = invoke("--app", f"{COMMANDS}:broken", command)
    assert result.exit_code == 1
    assert result.output == "Error: the app's startup failed: RuntimeError: no database\n"


def test_an_extension_offers_a_command_for_its_app() -> None:
    result = invoke("--app", f"{COMMANDS}:app", "stock")
    assert (result.exit_code, result.output) == (0, "stock of shop\n")


def test_app_commands_are_listed_in_help() -> None:
    result = invoke("--app", f"{COMMANDS}:app", "--help")
    assert result.exit_code == 0
    listed = result.output.partition("Commands:")[2].split()
    assert {"greet", "seed", "db", "stock", "run", "shell"} <= set(listed)
    assert "Greet NAME." in result.output


def test_help_lists_the_built_ins_when_the_app_does_not_load() -> None:
    result = CliRunner().invoke(main, ["--app", "nowhere:app", "--help"])
    assert result.exit_code == 0
    assert "Error: --app nowhere:app: no module named 'nowhere'" in result.output
    assert "routes" in result.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope"],
            "Error: no command 'nope' (an app's own commands need --app MODULE:APP or "
            "CARAFE_APP)\n",
        ),
        (
            ["--app", f"{COMMANDS}:app", "nope"],
            "Error: no command 'nope' (neither built in nor one of the app's commands)\n",
        ),
        (
            ["--app", f"{COMMANDS}:not_carafe", "x"],
            f"Error: --app {COMMANDS}:not_carafe is a function, not a Carafe app\n",
        ),
        (
            ["--app", f"{COMMANDS}:missing", "x"],
            f"Error: --app {COMMANDS}:missing: module '{COMMANDS}' has no attribute 'missing'\n",
        ),
    ],
)
def test_unknown_commands_and_bad_apps_are_one_line(args: list[str], message: str) -> None:
    result = invoke(*args)
    assert (result.exit_code, result.output) == (1, message)


def test_the_shell_has_the_app_and_a_started_client() -> None:
    code = (
        "print(client.get('/').json())\n"
        "print(sorted(name for name in dir() if not name.startswith('_')))\n"
        "print(app.title, carafe.Carafe is type(app))\n"
    )
    result = CliRunner().invoke(main, ["shell", f"{COMMANDS}:app", "--plain"], input=code)
    assert result.exit_code == 0, result.output
    assert "{'started': 1}" in result.output
    assert "['app', 'carafe', 'client', 'config']" in result.output
    assert "shop True" in result.output
    assert "shut down" in result.output  # the lifespan was left


def test_the_shell_is_ipython_when_it_is_installed(tmp_path: Path) -> None:
    import os
    import subprocess

    pytest.importorskip("IPython")
    code = (
        "print(type(get_ipython()).__name__)\n"
        "print(client.get('/').json(), app.title, carafe.Carafe is type(app))\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "carafe", "shell", f"{COMMANDS}:app"],
        input=code,
        env={**os.environ, "IPYTHONDIR": str(tmp_path)},  # its history, not in ~/.ipython
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Carafe shell: shop, Python " in done.stdout
    assert "In the namespace: app, carafe, client, config" in done.stdout
    assert "TerminalInteractiveShell" in done.stdout  # IPython, not code.interact
    assert "{'started': 1} shop True" in done.stdout
    assert "shut down" in done.stdout  # the lifespan was left


def test_the_shell_offers_the_config_and_takes_the_group_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.apps import cli_commands

    monkeypatch.setattr(cli_commands.app, "config", {"DB": "sqlite://"}, raising=False)
    result = CliRunner().invoke(
        main, ["--app", f"{COMMANDS}:app", "shell", "--plain"], input="print(config['DB'])\n"
    )
    assert "sqlite://" in result.output
    result = invoke("shell")
    assert result.exit_code == 2
    assert "name the app" in result.output


def test_run_log_format_adds_the_request_log(uvicorn_calls: list[dict[str, Any]]) -> None:
    result = invoke("run", f"{APP}:create_app", "--log-format", "json")
    assert result.exit_code == 0, result.output
    call = uvicorn_calls[0]
    assert call["access_log"] is False  # the request log's line replaces uvicorn's
    assert call["log_level"] == "info"
    config = call["log_config"]
    assert config["formatters"]["carafe"]["()"] == "carafe.logs.JSONFormatter"
    assert {"carafe", "uvicorn.error"} <= set(config["loggers"])
    with TestClient(call["target"]) as client:
        assert "x-request-id" in client.get("/hello").headers


def test_debug_means_coloured_text_lines_in_every_process(
    uvicorn_calls: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    result = invoke("run", f"{APP}:create_app", "--debug")
    assert result.exit_code == 0, result.output
    formatter = uvicorn_calls[0]["log_config"]["formatters"]["carafe"]
    assert formatter == {"()": "carafe.logs.TextFormatter", "color": True}
    import os

    assert os.environ[LOG_FORMAT_ENV] == "text"
    with TestClient(_serve.served_app()) as client:  # what a reload child serves
        assert "x-request-id" in client.get("/hello").headers


def test_prepare_wraps_a_plain_asgi_app() -> None:
    async def plain(scope: Any, receive: Any, send: Any) -> None:  # pragma: no cover
        pass

    assert isinstance(_serve.prepare(plain, False, "text"), RequestLogMiddleware)


def test_body_timeout_zero_serves_the_app_itself(uvicorn_calls: list[dict[str, Any]]) -> None:
    result = invoke("run", "examples.demo:app", "--body-timeout", "0")
    assert result.exit_code == 0, result.output
    import examples.demo

    assert uvicorn_calls[0]["target"] is examples.demo.app


def test_run_log_config(uvicorn_calls: list[dict[str, Any]], tmp_path: Path) -> None:
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "loggers": {"tests.cli.logconfig": {"level": "DEBUG"}},
    }
    path = tmp_path / "log.json"
    path.write_text(json.dumps(config))
    result = invoke("run", f"{APP}:create_app", "--log-config", str(path))
    assert result.exit_code == 0, result.output
    call = uvicorn_calls[0]
    assert call["log_config"] == config
    assert call["log_level"] is None  # the file's levels stand
    import logging

    assert logging.getLogger("tests.cli.logconfig").level == logging.DEBUG  # applied once
    result = invoke("run", f"{APP}:create_app", "--log-config", str(path), "--log-level", "info")
    assert uvicorn_calls[1]["log_level"] == "info"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{", "cannot be read"),
        ('{"version": 1, "handlers": {"h": {"class": "no.such.Handler"}}}', "cannot be applied"),
    ],
)
def test_a_bad_log_config_is_one_line(
    uvicorn_calls: list[dict[str, Any]], tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "log.json"
    path.write_text(text)
    result = invoke("run", f"{APP}:create_app", "--log-config", str(path))
    assert result.exit_code == 1
    assert message in result.output
    assert len(result.output.splitlines()) == 1
    assert uvicorn_calls == []


def test_version_option() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert "0.1.0" in result.output


def test_python_dash_m_carafe_is_the_command() -> None:
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "carafe", "--help"], cwd=ROOT, capture_output=True, check=True
    )
    assert b"Carafe: serve and inspect Carafe apps." in done.stdout


def test_license_is_the_one_pyproject_declares() -> None:
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "MIT"
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the Carafe authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
