"""The tutorial's code (docs/tutorial/): each chapter's folder works as the page says.

The pages include their code from ``docs/examples/tutorial/<chapter>/`` (pymdownx.snippets),
so what a reader copies is what runs here. Each folder is copied to a temporary one, as a
reader's project would be, and its own tests run there with pytest; the commands the
chapters show (``carafe db ...``, ``carafe run --workers --env-file``) run there too.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "examples" / "tutorial"
CHAPTERS = sorted(path.name for path in TUTORIAL.iterdir() if path.is_dir())


def project(chapter: str, folder: Path) -> Path:
    """A copy of the chapter's folder, as the reader has it after the chapter."""
    target = folder / chapter
    shutil.copytree(TUTORIAL / chapter, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run(folder: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command in the project's folder; ``carafe`` is this interpreter's."""
    if command[0] == "carafe":
        command = (sys.executable, "-m", "carafe", *command[1:])
    done = subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, "CARAFE_APP": "app:app", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_the_chapters_are_there() -> None:
    assert CHAPTERS == ["1-json-api", "3-a-page", "4-database", "5-login", "6-deploy"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_chapters_tests_pass(chapter: str, tmp_path: Path) -> None:
    """``pytest -q`` in the reader's folder, where the chapter says to run it."""
    folder = project(chapter, tmp_path)
    done = run(folder, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in done.stdout
    assert "failed" not in done.stdout and "error" not in done.stdout


def test_the_database_chapters_migrations(tmp_path: Path) -> None:
    """Chapter 4's ``carafe db init / revision --autogenerate / upgrade``, then chapter 5's
    second revision, which adds the users table to the same database."""
    folder = project("4-database", tmp_path)
    run(folder, "carafe", "db", "init")
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "todos")
    run(folder, "carafe", "db", "upgrade")
    assert tables(folder / "app.db") == {"alembic_version", "todos"}
    run(folder, "carafe", "db", "check")  # the models and the database agree

    # Chapter 5: the new app.py and templates over the same folder and database.
    for path in (TUTORIAL / "5-login").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = folder / path.relative_to(TUTORIAL / "5-login")
            target.parent.mkdir(exist_ok=True)
            shutil.copy(path, target)
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "users")
    run(folder, "carafe", "db", "upgrade")
    assert tables(folder / "app.db") == {"alembic_version", "todos", "users"}
    history = run(folder, "carafe", "db", "history").stdout
    assert "todos" in history and "users" in history


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Chapter 6's folder with its migrations applied to the database its .env names."""
    tmp_path = tmp_path_factory.mktemp("deployed")
    folder = project("6-deploy", tmp_path)
    database = tmp_path / "todo.db"
    settings = {
        "CARAFE_SECRET_KEY": "a-long-random-string-for-this-test",
        "CARAFE_DATABASE_URL": f"sqlite:///{database}",
        "CARAFE_SECURE_COOKIES": "true",
    }
    (folder / ".env").write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    run(folder, "carafe", "db", "init", **settings)
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "first", **settings)
    run(folder, "carafe", "db", "upgrade", **settings)
    assert tables(database) == {"alembic_version", "todos", "users"}
    yield folder


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_deployed_app_serves_with_workers(deployed: Path, server: str) -> None:
    """``carafe run app:app --workers 2 --env-file .env``: the settings come from the file."""
    port = free_port()
    command = [sys.executable, "-m", "carafe", "run", "app:app", "--port", str(port)]
    command += ["--workers", "2", "--server", server, "--env-file", ".env"]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CARAFE_")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=deployed, env=clean, stdout=log, stderr=log)
        try:
            wait_for_port(port, timeout=30, proc=proc)
            base = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{base}/todos").json() == []
            login = httpx.get(f"{base}/login")
            assert login.status_code == 200
            assert "<h1>Log in</h1>" in login.text
            # CARAFE_SECURE_COOKIES=true from the file: the cookies go over HTTPS only.
            assert "; Secure" in login.headers["set-cookie"]
            redirect = httpx.get(f"{base}/")
            assert (redirect.status_code, redirect.headers["location"]) == (303, "/login?next=/")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.seek(0)
            output = log.read().decode(errors="replace")
    assert f"({server}, 2 workers)" in output, output


def test_the_deployed_app_needs_its_secret_key(tmp_path: Path) -> None:
    """Chapter 6: without CARAFE_SECRET_KEY, ``carafe run`` stops with one line."""
    folder = project("6-deploy", tmp_path)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CARAFE_")}
    done = subprocess.run(
        [sys.executable, "-m", "carafe", "run", "app:app", "--port", str(free_port())],
        cwd=folder,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "Error: importing 'app' failed: ConfigurationError: Cookie sessions need a secret key"
        in done.stderr + done.stdout
    )
    assert "Traceback" not in done.stderr
