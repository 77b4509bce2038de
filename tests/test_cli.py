"""The ``carafe`` command: routes table, errors, and a real server started by ``carafe run``."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from carafe import cli
from carafe.cli import load_app, main


def test_routes_table() -> None:
    result = CliRunner().invoke(main, ["routes", "examples.demo:app"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["METHODS", "PATH", "NAME", "HANDLER"]
    assert any(
        line.split() == ["GET", "/items/{item_id}", "read_item", "examples.demo.read_item"]
        for line in lines
    )
    assert any("/api/health" in line for line in lines)


def test_routes_lists_websockets() -> None:
    result = CliRunner().invoke(main, ["routes", "examples.chat.app:app"])
    assert result.exit_code == 0, result.output
    assert any(
        line.startswith("WEBSOCKET") and "/ws/{room}" in line for line in result.output.splitlines()
    )


def test_routes_reports_configuration_errors(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "broken_app.py").write_text(
        "from carafe import Carafe\n"
        "app = Carafe()\n"
        "@app.get('/items/{item_id}')\n"
        "async def f() -> str:\n"
        "    return 'x'\n"
    )
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["routes", "broken_app:app"])
    assert result.exit_code == 1
    assert "item_id" in result.output


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("nocolon", "expected module:attribute"),
        ("no_such_module_xyz:app", "no module named"),
        ("examples.demo:nope", "has no attribute"),
    ],
)
def test_bad_targets(target: str, message: str) -> None:
    result = CliRunner().invoke(main, ["run", target])
    assert result.exit_code == 2
    assert message in result.output


def test_reload_and_workers_conflict() -> None:
    result = CliRunner().invoke(main, ["run", "examples.demo:app", "--reload", "--workers", "2"])
    assert result.exit_code == 2
    assert "cannot be combined" in result.output


def test_run_passes_production_settings_to_uvicorn(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append({"target": target, **kw}))
    result = CliRunner().invoke(main, ["run", "examples.demo:app", "--port", "8123"])
    assert result.exit_code == 0, result.output
    assert calls[0]["target"] == "examples.demo:app"
    assert calls[0]["access_log"] is False
    assert calls[0]["workers"] == 1
    assert calls[0]["reload"] is False
    assert calls[0]["ws_max_size"] == 16 * 1024 * 1024


def test_debug_flag_turns_on_debug_and_reload(monkeypatch: pytest.MonkeyPatch) -> None:
    import uvicorn

    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **kw: calls.append(kw))
    monkeypatch.delenv("CARAFE_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["run", "examples.demo:app", "--debug"])
    assert result.exit_code == 0, result.output
    assert calls[0]["reload"] is True
    app = load_app("examples.demo:app")
    assert app.debug is True
    app.debug = False
    monkeypatch.delenv("CARAFE_DEBUG")


def test_granian_is_chosen_with_server_flag(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []
    monkeypatch.setattr(cli, "_run_granian", lambda *args: seen.append(args))
    result = CliRunner().invoke(main, ["run", "examples.demo:app", "--server", "granian"])
    assert result.exit_code == 0, result.output
    assert seen == [("examples.demo:app", "127.0.0.1", 8000, False, 1, False, "")]


def test_carafe_run_serves_with_uvicorn(live_server: Any) -> None:
    server = live_server("examples.demo:app")
    response = httpx.get(f"{server.url}/items/1")
    assert response.status_code == 200
    assert response.json() == {"name": "kettle", "price": 24.5, "tags": ["kitchen"]}
    assert httpx.get(f"{server.url}/items/x").status_code == 422
    # No access log by default: the server printed nothing per request.
    output = server.stop()
    assert "GET /items/1" not in output


@pytest.mark.slow
def test_carafe_run_serves_with_granian(live_server: Any) -> None:
    server = live_server("examples.demo:app", "--server", "granian")
    response = httpx.get(f"{server.url}/api/health")
    assert response.json() == {"status": "ok"}


@pytest.mark.slow
def test_carafe_run_with_two_workers(live_server: Any) -> None:
    server = live_server("examples.demo:app", "--workers", "2")
    for _ in range(10):
        assert httpx.get(f"{server.url}/api/health").status_code == 200


def test_version_option() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert "0.1.0" in result.output


def test_license_is_the_one_pyproject_declares() -> None:
    import tomllib

    from tests.conftest import ROOT

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["license"]
    text = (ROOT / "LICENSE").read_text()
    assert declared == "MIT"
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the Carafe authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text
