"""A Carafe app on two "hosts" behind HAProxy, sharing one Redis: scale-out, on one machine.

::

    with Cluster("tests.apps.cluster_app:app") as cluster:
        httpx.get(cluster.url + "/whoami")       # through HAProxy, to either host

The topology (``N`` is the subnet, 0 unless another cluster is up)::

    root namespace                                 network namespace carafe-N-a
      HAProxy  127.0.0.1:<port>  --+               carafe run APP --workers 2
      (round robin, health checks)  \\   bridge      --host 10.77.N.1 --port 8000
      source 10.77.N.254             +-- cfbrN --- veth ---
      Redis    10.77.N.254:<port>   /   10.77.N.254
               127.0.0.1:<port>    +               network namespace carafe-N-b
      (a stranger: 10.77.N.253)       \\-- veth --- carafe run APP ... --host 10.77.N.2

Each host is a Linux network namespace (``ip netns``) with one end of a veth pair; the
other ends are ports of a bridge in the root namespace, which holds HAProxy (listening on
loopback), Redis and the test. The servers trust only HAProxy's address as a proxy
(``--trusted-proxy 10.77.N.254``); 10.77.N.253, also on the bridge, is a peer that is not
the proxy, for spoofing tests. Faults: ``kill_redis`` / ``start_redis``,
``kill_host`` / ``start_host``, ``link_down`` / ``link_up``.

The target app is a parameter: any ``module:app`` that ``carafe run`` serves. It gets
``CARAFE_REDIS_URL`` and ``CARAFE_SESSION_REDIS_URL`` (the same Redis) and one
``CARAFE_SECRET_KEY`` for every worker, plus ``env``. HAProxy checks ``health`` (``GET``,
expects 200) and marks each answer with the host that gave it: ``X-Served-By: a``.

Needs root, iproute2 (``ip``), ``haproxy`` and ``redis-server``; ``missing()`` says what
is absent. ``stop()`` (also on leaving the ``with``, and at interpreter exit) kills every
process the cluster started and deletes its namespaces and bridge, whatever state a
failed test left them in; ``Cluster`` also deletes empty namespaces and bridges that a
killed run left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STATE = Path("/run/carafe-cluster")  # one record per running cluster, by subnet
APP_PORT = 8000
HOST_NAMES = ("a", "b")

__all__ = ["Cluster", "Host", "missing", "rss_kib", "wait_until"]


def missing() -> list[str]:
    """What this machine lacks to run a cluster (empty when it can)."""
    lacks = [f"{tool} is not installed" for tool in ("ip", "haproxy", "redis-server")]
    lacks = [text for text in lacks if shutil.which(text.split()[0]) is None]
    if os.geteuid() != 0:
        lacks.append("network namespaces need root")
    return lacks


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    """Poll ``check`` until it is true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout} s")
        time.sleep(0.05)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


def _listening(address: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((address, port)) == 0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(
    proc: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, grace: float = 5.0
) -> None:
    """Signal ``proc``'s process group (each is started in its own) and reap it; kill it
    if it is still there after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # ``pid (comm) state ppid ...``; comm may hold spaces and parentheses.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def rss_kib(pid: int) -> int | None:
    """A process's resident memory in KiB, or None if it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _terminate_is_interrupt() -> None:
    """``SIGTERM`` (``timeout``, a cancelled CI job) raises ``KeyboardInterrupt``, as
    Ctrl+C does, so that ``finally`` blocks and pytest's teardown stop the cluster."""
    main = threading.current_thread() is threading.main_thread()
    if main and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
        signal.signal(signal.SIGTERM, signal.default_int_handler)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace(namespace: str) -> None:
    """Kill every process in ``namespace`` (all of them a cluster's) and delete it."""
    for pid in _ip("netns", "pids", namespace, check=False).stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    _ip("netns", "del", namespace, check=False)


def _cleanup_leftovers() -> None:
    """Tear down what clusters whose owner died (a killed test run) left behind.

    Each cluster records its owner's pid and the processes it started in the root
    namespace in ``STATE/<subnet>.json``; a cluster whose owner is gone is stopped:
    those processes (if they are still what was started), everything in its
    namespaces, the namespaces, its links, its files. Empty namespaces and bridges of
    ours without a record are deleted too.
    """
    for record in STATE.glob("*.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            _cleanup_recorded(record, json.loads(record.read_text()))
    for line in _ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        match = re.fullmatch(r"carafe-(\d+)-([a-z])", name)
        recorded = match is not None and (STATE / f"{match[1]}.json").exists()
        if match and not recorded and not _ip("netns", "pids", name).stdout:
            _ip("netns", "del", name, check=False)
            _ip("link", "del", f"cf{match[1]}{match[2]}", check=False)
    for line in _ip("-o", "link", "show", "type", "bridge", check=False).stdout.splitlines():
        found = re.match(r"\d+: (cfbr(\d+))[:@]", line)
        recorded = found is not None and (STATE / f"{found[2]}.json").exists()
        if found and not recorded and not any(Path(f"/sys/class/net/{found[1]}/brif").iterdir()):
            _ip("link", "del", found[1], check=False)


def _cleanup_recorded(record: Path, state: dict[str, Any]) -> None:
    if _alive(state["owner"]):
        return
    for pid, marker in state["processes"]:
        if _alive(pid) and marker.encode() in _cmdline(pid):
            os.kill(pid, signal.SIGKILL)
    for name in HOST_NAMES:
        _kill_namespace(f"carafe-{record.stem}-{name}")
        _ip("link", "del", f"cf{record.stem}{name}", check=False)
    _ip("link", "del", f"cfbr{record.stem}", check=False)
    shutil.rmtree(state["workdir"], ignore_errors=True)
    record.unlink()


class Host:
    """One host: a network namespace, its address, and ``carafe run`` serving in it."""

    def __init__(self, cluster: Cluster, name: str, index: int) -> None:
        self.cluster = cluster
        self.name = name
        self.namespace = f"carafe-{cluster.subnet}-{name}"
        self.address = f"{cluster.prefix}.{index}"
        self.link = f"cf{cluster.subnet}{name}"  # the root namespace's end of the veth
        self.log_path = cluster.workdir / f"host-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def create(self) -> None:
        ns, link = self.namespace, self.link
        _ip("netns", "add", ns)
        _ip("link", "add", link, "type", "veth", "peer", "name", link + "p")
        _ip("link", "set", link + "p", "netns", ns)
        _ip("link", "set", link, "master", self.cluster.bridge, "up")
        _ip("-n", ns, "link", "set", link + "p", "name", "eth0")
        _ip("-n", ns, "addr", "add", f"{self.address}/24", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "link", "set", "lo", "up")

    def start(self) -> None:
        """Start ``carafe run APP --workers N`` in the namespace; return once it listens."""
        cluster = self.cluster
        command = [
            *("ip", "netns", "exec", self.namespace),
            *(sys.executable, "-m", "carafe", "run", cluster.app),
            *("--host", self.address, "--port", str(APP_PORT)),
            *("--workers", str(cluster.workers), "--trusted-proxy", cluster.proxy_address),
        ]
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                command,
                cwd=ROOT,
                env={**os.environ, **cluster.app_env},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopped as one
            )
        proc = self.proc

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"host {self.name} exited:\n{self.log()[-3000:]}")
            return _listening(self.address, APP_PORT) and len(self.worker_pids()) >= cluster.workers

        wait_until(up, f"host {self.name} listening on {self.address}:{APP_PORT}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Take the host's server away: ``SIGKILL`` (a crash) or ``SIGTERM`` (a stop)."""
        _stop(self.proc, sig)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def link_down(self) -> None:
        """Unplug the host: packets to and from it vanish, nothing answers or refuses."""
        _ip("link", "set", self.link, "down")

    def link_up(self) -> None:
        _ip("link", "set", self.link, "up")

    def server_pid(self) -> int | None:
        return self.proc.pid if self.running() and self.proc is not None else None

    def worker_pids(self) -> list[int]:
        """The serving processes (the supervisor's children but its resource tracker)."""
        pid = self.server_pid()
        return [p for p in _children(pid) if b"spawn_main" in _cmdline(p)] if pid else []

    def log(self) -> str:
        """Everything the host's server printed so far."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def remove(self) -> None:
        _stop(self.proc, grace=3.0)
        # Anything else left in the namespace is ours (started there by this cluster).
        _kill_namespace(self.namespace)
        # NOTE: the namespace (and its end of the veth) may outlive ``netns del`` while the
        # kernel still holds a reference to it; deleting our end deletes the pair now.
        _ip("link", "del", self.link, check=False)


class Cluster:
    """Two hosts serving ``app`` behind HAProxy, with one Redis (see the module docstring).

    Args:
        app: The ``module:app`` target ``carafe run`` serves on every host.
        health: The path HAProxy checks on each host (``GET``, 200 is healthy).
        workers: ``--workers`` on each host.
        env: More environment for the app's processes.
        persistence: Redis writes every change to its append-only file before
            answering (``appendfsync always``), so a killed Redis restarts with every
            session it acknowledged; ``False`` runs it with no persistence at all.
    """

    def __init__(
        self,
        app: str = "tests.apps.cluster_app:app",
        *,
        health: str = "/healthz",
        workers: int = 2,
        env: dict[str, str] | None = None,
        persistence: bool = True,
    ) -> None:
        self.app = app
        self.health = health
        self.workers = workers
        self.persistence = persistence
        self.workdir = Path(tempfile.mkdtemp(prefix="carafe-cluster-"))
        self.subnet = -1
        self.prefix = ""
        self.bridge = ""
        self.hosts: dict[str, Host] = {}
        self.redis_port = _free_port()
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.extra_env = dict(env or {})
        # More of its processes to kill if its owner dies: (pid, a marker in its cmdline).
        self.extra_processes: list[tuple[int, str]] = []
        self._redis: subprocess.Popen[bytes] | None = None
        self._haproxy: subprocess.Popen[bytes] | None = None
        self._stopped = False

    # --- Addresses -------------------------------------------------------------------

    @property
    def proxy_address(self) -> str:
        """HAProxy's address towards the hosts: the only trusted proxy."""
        return f"{self.prefix}.254"

    @property
    def stranger_address(self) -> str:
        """An address on the hosts' network that is not the proxy."""
        return f"{self.prefix}.253"

    @property
    def redis_url(self) -> str:
        """Redis as the test (in the root namespace) reaches it."""
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def app_redis_url(self) -> str:
        """Redis as the hosts reach it, over the bridge."""
        return f"redis://{self.proxy_address}:{self.redis_port}/0"

    @property
    def app_env(self) -> dict[str, str]:
        return {
            "CARAFE_REDIS_URL": self.app_redis_url,
            "CARAFE_SESSION_REDIS_URL": self.app_redis_url,
            "CARAFE_SECRET_KEY": self._secret,
            **self.extra_env,
        }

    # --- Life --------------------------------------------------------------------------

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Network, Redis, both hosts, HAProxy; returns when HAProxy sees every host up."""
        self._secret = secrets.token_urlsafe(32)
        atexit.register(self.stop)
        _terminate_is_interrupt()
        try:
            _cleanup_leftovers()
            self._network()
            self.start_redis()
            self.prepare()
            for host in self.hosts.values():
                host.start()
            self._start_haproxy()
            self.wait_status({name: "UP" for name in self.hosts})
        except BaseException:
            self.stop()
            raise

    def _network(self) -> None:
        taken = set(re.findall(r"cfbr(\d+)", _ip("-o", "link", "show").stdout))
        taken |= {record.stem for record in STATE.glob("*.json")}
        self.subnet = next(n for n in range(255) if str(n) not in taken)
        self.prefix = f"10.77.{self.subnet}"
        self.bridge = f"cfbr{self.subnet}"
        self._record()
        _ip("link", "add", self.bridge, "type", "bridge")
        _ip("addr", "add", f"{self.proxy_address}/24", "dev", self.bridge)
        _ip("addr", "add", f"{self.stranger_address}/24", "dev", self.bridge)
        _ip("link", "set", self.bridge, "up")
        for index, name in enumerate(HOST_NAMES, start=1):
            host = self.hosts[name] = Host(self, name, index)
            host.create()

    def prepare(self) -> None:
        """For a subclass: start what the hosts need besides Redis (a database), with the
        network up and before the hosts start; ``extra_env`` may still grow here, and
        ``extra_processes`` (then ``_record()``) names what a killed run leaves behind."""

    def release(self) -> None:
        """For a subclass: stop what ``prepare`` started (called by ``stop``, once)."""

    def stop(self) -> None:
        """Stop everything and delete the namespaces and the bridge; safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        _stop(self._haproxy)
        for host in self.hosts.values():
            host.remove()
        self.release()
        _stop(self._redis)
        if self.bridge:
            _ip("link", "del", self.bridge, check=False)
            (STATE / f"{self.subnet}.json").unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def _record(self) -> None:
        """Write down who owns this cluster and what it started (see _cleanup_leftovers)."""
        processes = []
        if self._redis is not None:
            processes.append((self._redis.pid, f":{self.redis_port}"))
        if self._haproxy is not None:
            processes.append((self._haproxy.pid, str(self.workdir)))
        processes.extend(self.extra_processes)
        state = {"owner": os.getpid(), "workdir": str(self.workdir), "processes": processes}
        STATE.mkdir(parents=True, exist_ok=True)
        (STATE / f"{self.subnet}.json").write_text(json.dumps(state))

    # --- Redis -------------------------------------------------------------------------

    def start_redis(self) -> None:
        """Start (or restart, on the same port and files) the shared Redis."""
        persist = ("--appendonly", "yes", "--appendfsync", "always")
        command = [
            *("redis-server", "--port", str(self.redis_port)),
            *("--bind", f"127.0.0.1 {self.proxy_address}", "--protected-mode", "no"),
            *("--dir", str(self.workdir), "--save", ""),
            *(persist if self.persistence else ("--appendonly", "no")),
        ]
        with open(self.workdir / "redis.log", "ab") as log:
            self._redis = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        proc = self._redis

        def up() -> bool:
            if proc.poll() is not None:
                raise RuntimeError("redis-server exited; see its log in " + str(self.workdir))
            return _listening("127.0.0.1", self.redis_port) and self._redis_ready()

        self._record()
        wait_until(up, "redis-server answering")

    def _redis_ready(self) -> bool:
        """PING answers PONG (not ``-LOADING``: the append-only file is read)."""
        try:
            with socket.create_connection(("127.0.0.1", self.redis_port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def kill_redis(self) -> None:
        """Redis crashes (``SIGKILL``): no chance to save anything on the way out."""
        _stop(self._redis, signal.SIGKILL)

    # --- HAProxy -------------------------------------------------------------------------

    @property
    def _stats_socket(self) -> Path:
        return self.workdir / "haproxy.sock"

    def haproxy_config(self) -> str:
        """The configuration HAProxy runs with (docs/deployment.md shows it)."""
        servers = "\n".join(
            f"    server {host.name} {host.address}:{APP_PORT} check inter 250ms fall 2 rise 2"
            for host in self.hosts.values()
        )
        return f"""\
global
    maxconn 4096
    stats socket {self._stats_socket} mode 600 level admin

defaults
    mode http
    timeout connect 1s
    timeout client 30s
    timeout server 10s  # idle time of a response; event streams ping every 5 s
    timeout check 1s
    retries 2
    option redispatch 1
    # A connection refused or dropped before any answer, or no answer within `timeout
    # server`, is retried on the other host, but only for requests safe to send twice.
    retry-on conn-failure empty-response response-timeout

frontend web
    bind 127.0.0.1:{self.port}
    # What a client says about its own address, scheme, host or prefix is not passed on:
    # HAProxy adds the client's address and sets the scheme itself.
    http-request del-header X-Forwarded-Host
    http-request del-header X-Forwarded-Prefix
    http-request del-header Forwarded
    http-request set-header X-Forwarded-Proto http
    option forwardfor
    http-request disable-l7-retry unless METH_GET || METH_HEAD
    default_backend app

backend app
    balance roundrobin
    option httpchk GET {self.health}
    http-check expect status 200
    http-response set-header X-Served-By %s
    source {self.proxy_address}
{servers}
"""

    def _start_haproxy(self) -> None:
        config = self.workdir / "haproxy.cfg"
        config.write_text(self.haproxy_config())
        check = subprocess.run(
            ["haproxy", "-c", "-q", "-f", str(config)], check=False, capture_output=True
        )
        if check.returncode != 0:
            raise RuntimeError(f"haproxy.cfg is refused:\n{check.stderr.decode()}")
        with open(self.workdir / "haproxy.log", "ab") as log:
            self._haproxy = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._record()
        wait_until(self._stats_socket.exists, "haproxy's stats socket")

    def haproxy(self, command: str) -> str:
        """Send one command to HAProxy's stats socket (``show stat``, ``disable server``)."""
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(self._stats_socket))
            sock.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def status(self) -> dict[str, str]:
        """What HAProxy's health checks say of each host: ``{"a": "UP", "b": "DOWN"}``."""
        lines = self.haproxy("show stat").splitlines()
        header = lines[0].lstrip("# ").split(",")
        found = {}
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("pxname") == "app" and row.get("svname") in self.hosts:
                found[row["svname"]] = row["status"].split()[0]
        return found

    def wait_status(self, wanted: dict[str, str], timeout: float = 20.0) -> None:
        """Wait until HAProxy's checks say ``wanted`` (``{"a": "DOWN"}``) of those hosts."""

        def reached() -> bool:
            now = self.status()
            return all(now.get(name) == state for name, state in wanted.items())

        wait_until(reached, f"HAProxy reporting {wanted}", timeout)

    # --- Faults, undone -------------------------------------------------------------------

    def heal(self) -> None:
        """Undo every fault: Redis running, every host serving and plugged in, all UP."""
        if self._redis is None or self._redis.poll() is not None:
            self.start_redis()
        for host in self.hosts.values():
            host.link_up()
            if not host.running():
                host.start()
        self.wait_status({name: "UP" for name in self.hosts})

    def worker_pids(self) -> dict[str, list[int]]:
        """Every host's serving processes: ``{"a": [pid, pid], "b": [...]}``."""
        return {name: host.worker_pids() for name, host in self.hosts.items()}

    def logs(self) -> str:
        """Every host's server output, each under its name: for failure messages."""
        return "\n".join(f"--- host {h.name}\n{h.log()}" for h in self.hosts.values())
