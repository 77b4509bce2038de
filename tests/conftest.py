"""Shared fixtures: free loopback ports, a real Redis, headless Chromium, a live server.

Real services come from Debian's packages (scripts/system-deps installs them). Where one
is missing, its tests are skipped locally and fail under CI=true, so CI cannot go green
by skipping them.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import PostgresServer, postgres_bindir

ROOT = Path(__file__).resolve().parent.parent
IN_CI = os.environ.get("CI") == "true"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, timeout: float = 15.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


def need_binary(name: str) -> str:
    """The path of a system binary, or skip (fail under CI) when it is not installed."""
    path = shutil.which(name)
    if path is None:
        message = f"{name} is not installed (scripts/system-deps installs it)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def anyio_backend() -> str:
    """Async tests (``@pytest.mark.anyio``) run on asyncio, as uvicorn and granian do."""
    return "asyncio"


class RedisProcess:
    """A redis-server of the test's own on a free loopback port, without persistence,
    which a test may kill and start again on the same port."""

    def __init__(self, workdir: Path) -> None:
        self.binary = need_binary("redis-server")
        self.port = free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        command = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(self.workdir)]
        self.proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, proc=self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real redis-server on a free loopback port, for the whole session."""
    server = RedisProcess(tmp_path_factory.mktemp("redis"))
    server.start()
    try:
        yield server.url
    finally:
        server.kill()


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisProcess]:
    """A redis-server for one test, which it may kill (``kill()``) and ``start()`` again."""
    server = RedisProcess(tmp_path)
    server.start()
    yield server
    server.kill()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A real PostgreSQL server (Debian's package) on a free loopback port, for the whole
    session; ``postgres_url`` gives each test a database of its own on it."""
    if postgres_bindir() is None:
        need_binary("initdb")  # skips, or fails under CI, with the install hint
    directory = Path(tempfile.mkdtemp(prefix="carafe-pg-"))
    server = PostgresServer.start(directory, free_port())
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server: PostgresServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty PostgreSQL database for one test: ``postgresql://...`` (no driver)."""
    postgres_url.count += 1  # type: ignore[attr-defined]
    return postgres_server.create_database(f"test_{postgres_url.count}")  # type: ignore[attr-defined]


postgres_url.count = 0  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def chromium() -> str:
    """The path of Debian's headless Chromium."""
    return need_binary("chromium")


class LiveServer:
    """``carafe run module:app`` (uvicorn) in a subprocess on a free loopback port."""

    def __init__(self, target: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-m", "carafe", "run", target, "--port", str(self.port), *args]
        # The output goes to a file: a pipe nobody reads can fill up and stall the server.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_for_port(self.port, proc=self.proc)
        except Exception:
            self.stop()
            raise

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.log.closed:
            return ""
        self.log.seek(0)
        out = self.log.read()
        self.log.close()
        return out.decode(errors="replace")


@pytest.fixture
def live_server() -> Iterator[type[LiveServer]]:
    """Start servers with ``live_server("examples.demo:app")``; all are stopped after the test."""
    started: list[LiveServer] = []

    class Tracked(LiveServer):
        def __init__(self, target: str, *args: str, env: dict[str, str] | None = None) -> None:
            super().__init__(target, *args, env=env)
            started.append(self)

    yield Tracked
    for server in started:
        server.stop()


@pytest.fixture
def example_api_state() -> Iterator[None]:
    """examples/api.py keeps its items and tokens in module dicts: a test that changes
    them (a fuzzer's random items) gets them put back as they were."""
    from examples import api

    items, tokens = dict(api.ITEMS), dict(api.TOKENS)
    yield
    api.ITEMS.clear()
    api.ITEMS.update(items)
    api.TOKENS.clear()
    api.TOKENS.update(tokens)


TWICE = (
    "from carafe import Carafe\n"
    "app = Carafe()\n"
    "@app.get('/a', name='same')\n"
    "async def a() -> str:\n"
    "    return 'a'\n"
    "@app.get('/b', name='same')\n"
    "async def b() -> str:\n"
    "    return 'b'\n"
)


@pytest.fixture
def broken_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``twice:app``, importable from the working directory: two routes share a name."""
    (tmp_path / "twice.py").write_text(TWICE)
    monkeypatch.chdir(tmp_path)
    return "twice:app"
