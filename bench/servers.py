"""Start an app under a real server pinned to one core, wait for it, measure it, stop it.

Each server is launched as its users launch it in production, one worker, no access
log. The process runs in its own session so stopping it stops its workers too (by the
group id of the process we started, nothing else).
"""

from __future__ import annotations

import contextlib
import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent


def _bin(name: str) -> str:
    found = VENV_BIN / name
    return str(found) if found.exists() else name


def server_argv(server: str, target: str, port: int, *, backlog: int = 4096) -> list[str]:
    """The command line for ``server`` serving ``target`` (``module:attr``)."""
    host = "127.0.0.1"
    if server == "uvicorn":
        return [
            _bin("uvicorn"), target, "--host", host, "--port", str(port),
            "--loop", "uvloop", "--http", "httptools", "--no-access-log",
            "--log-level", "warning", "--backlog", str(backlog),
        ]  # fmt: skip
    if server in ("granian", "granian-wsgi"):
        interface = "wsgi" if server == "granian-wsgi" else "asgi"
        argv = [
            _bin("granian"), "--interface", interface, "--host", host, "--port", str(port),
            "--workers", "1", "--no-ws", "--log-level", "warning", "--no-access-log",
            "--backlog", str(backlog),
        ]  # fmt: skip
        if interface == "asgi":
            argv += ["--loop", "uvloop"]
        return [*argv, target]
    if server in ("gunicorn-sync", "gunicorn-gthread"):
        argv = [
            _bin("gunicorn"), target, "--bind", f"{host}:{port}", "--workers", "1",
            "--log-level", "warning", "--backlog", str(backlog),
        ]  # fmt: skip
        if _gunicorn_has_control_socket():
            argv.append("--no-control-socket")  # gunicorn >= 25 would open one in ~/.gunicorn
        if server == "gunicorn-gthread":
            argv += ["--worker-class", "gthread", "--threads", "8"]
        else:
            argv += ["--worker-class", "sync"]
        return argv
    if server == "carafe":
        return [_bin("carafe"), "run", target, "--host", host, "--port", str(port)]
    raise ValueError(f"unknown server {server!r}")


_GUNICORN_CONTROL: list[bool] = []


def _gunicorn_has_control_socket() -> bool:
    if not _GUNICORN_CONTROL:
        out = subprocess.run(
            [_bin("gunicorn"), "--help"], capture_output=True, text=True, check=False
        )
        _GUNICORN_CONTROL.append("--no-control-socket" in out.stdout)
    return _GUNICORN_CONTROL[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Running:
    name: str
    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def rss_mb(self) -> float:
        """Resident memory of the server and all its children, in MiB."""
        total = 0
        for pid in _tree(self.proc.pid):
            try:
                for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:
                continue
        return total / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server and all its children."""
        return sum(self.cpu_times())

    def cpu_times(self) -> tuple[float, float]:
        """User and system CPU time used so far by the server and all its children."""
        ticks = os.sysconf("SC_CLK_TCK")
        user = system = 0
        for pid in _tree(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            user += int(fields[11])
            system += int(fields[12])
        return user / ticks, system / ticks

    def accept_queue(self) -> int:
        """Connections the kernel has completed that the server has not accepted yet.

        wrk never reports a connection that is never answered, so the suite samples
        this (the listening socket's Recv-Q) during each run. ``ss`` asks the kernel for
        listening sockets only: reading /proc/net/tcp instead would walk all 20,000
        socket ends of a 10,000-connection run each time.
        """
        try:
            out = subprocess.run(
                ["ss", "-ltnH", f"sport = :{self.port}"],
                capture_output=True, text=True, timeout=5, check=False,
            ).stdout  # fmt: skip
        except (OSError, subprocess.TimeoutExpired):
            return 0
        for line in out.splitlines():
            fields = line.split()
            if len(fields) >= 2 and fields[0] == "LISTEN":
                return int(fields[1])
        return 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)


def core_user_seconds(core: int) -> float:
    """User (and nice) CPU time spent on ``core`` so far, by every process."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{core} "):
            fields = line.split()
            return (int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")
    return 0.0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, []))
    return out


def start(
    name: str,
    argv: list[str],
    *,
    port: int,
    cwd: Path,
    env: dict[str, str] | None = None,
    cpu: int | None = 0,
    nice: int = 0,
    log_dir: Path,
    ready_path: str = "/",
    timeout: float = 30.0,
) -> Running:
    """Start ``argv`` (pinned to ``cpu``) and wait until it answers on ``ready_path``."""
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"{name.replace('/', '_')}.log"
    full_env = {**os.environ, "PYTHONPATH": f"{cwd}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    full_env.update(env or {})
    with log.open("wb") as fh:
        proc = subprocess.Popen(
            argv, cwd=cwd, env=full_env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    running = Running(name, argv, port, proc, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not running.alive():
            raise RuntimeError(f"{name} exited ({proc.returncode}):\n{running.log_tail()}")
        try:
            get(running.port, ready_path, timeout=1.0)
            return running
        except OSError:
            time.sleep(0.1)
    running.stop()
    raise RuntimeError(f"{name} did not answer within {timeout}s:\n{running.log_tail()}")


@dataclass
class Reply:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: bytes


def get(
    port: int,
    path: str,
    *,
    method: str = "GET",
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> Reply:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs: dict[str, str] = {}
        for raw_name, v in resp.getheaders():
            k = raw_name.lower()
            hdrs[k] = f"{hdrs[k]}, {v}" if k in hdrs else v
        return Reply(resp.status, hdrs, data)
    finally:
        conn.close()
