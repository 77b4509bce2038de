"""The full suite: every framework under every server, TechEmpower-style tests, concurrency.

    .venv/bin/python bench/run_suite.py            # the full run (~50 min on 2 cores)
    .venv/bin/python bench/run_suite.py --quick    # 1 run, short durations, to develop with
    .venv/bin/python bench/run_suite.py --quick --frameworks carafe,raw --servers uvicorn

Usually started by ``bench/run``, which installs what this needs first. Steps:

1. raise the open-file limit, start a private PostgreSQL (pinned to core 1) and load
   TechEmpower's ``world`` and ``fortune`` tables;
2. ``--runs`` passes; in each, for each (framework, server): start the server pinned
   to core 0, check every test's answer (``bench/tfb.py``), give each test that
   answered right a warmup and one timed wrk run on core 1; under uvicorn, also /json
   at 100, 1,000 and 10,000 connections; read the server's resident memory; stop it.
   Figures are medians over the passes, so a busy spell of a shared machine hits one
   run of every config instead of every run of one;
3. time each app module's import in a fresh interpreter (and, first of all, run the
   in-process benchmark ``bench/inprocess.py``);
4. write ``docs/benchmarks.md``, ``docs/benchmarks/*.png`` and the raw
   ``docs/benchmarks/results.json``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import re
import resource
import statistics
import subprocess
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import pg  # noqa: E402
import servers  # noqa: E402
import wrk  # noqa: E402
from tfb import FEATURE, TESTS  # noqa: E402

#: framework -> (module, interface). Modules live in bench/suite/.
FRAMEWORKS = {
    "raw": ("suite.raw_app", "asgi"),
    "carafe": ("suite.carafe_app", "asgi"),
    "starlette": ("suite.starlette_app", "asgi"),
    "fastapi": ("suite.fastapi_app", "asgi"),
    "litestar": ("suite.litestar_app", "asgi"),
    "blacksheep": ("suite.blacksheep_app", "asgi"),
    "falcon": ("suite.falcon_app", "asgi"),
    "carafe-sync": ("suite.carafe_sync_app", "asgi"),
    "flask": ("suite.flask_app", "wsgi"),
}
SERVERS = {
    "asgi": ["uvicorn", "granian"],
    "wsgi": ["gunicorn-sync", "gunicorn-gthread", "granian-wsgi"],
}
#: Extra servers for one framework: Carafe's own command line.
EXTRA_SERVERS = {"carafe": ["carafe"], "carafe-sync": []}
#: Frameworks measured under fewer servers to keep the run within budget.
ONLY_SERVERS = {"carafe-sync": ["uvicorn"]}
#: Where the concurrency test runs: every ASGI framework under both ASGI servers.
CONCURRENCY_SERVERS = ("uvicorn", "granian")

PACKAGES = [
    "carafe", "starlette", "fastapi", "pydantic", "litestar", "blacksheep", "falcon", "flask",
    "werkzeug", "uvicorn", "uvloop", "httptools", "granian", "gunicorn", "msgspec", "jinja2",
    "asyncpg", "psycopg", "psycopg-pool", "psycopg-binary",
]  # fmt: skip


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def raise_fd_limit() -> int:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 65536
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


#: The listen backlog every server is started with. Granian also takes it as its
#: default limit on connections served at once (``--backpressure``), so it must exceed
#: the largest concurrency level, or the connections past it wait unaccepted.
BACKLOG = 16384


def raise_listen_backlog() -> int:
    """Raise the kernel's caps on listen queues to BACKLOG where we may (as root).

    With the usual 4,096 (``net.core.somaxconn``), 10,000 connections opened at once
    overflow the queue and the kernel drops their SYNs; TechEmpower's machines set
    65,535. Returns the cap in force.
    """
    caps = Path("/proc/sys/net/core/somaxconn"), Path("/proc/sys/net/ipv4/tcp_max_syn_backlog")
    for cap in caps:
        with contextlib.suppress(OSError, ValueError):
            if int(cap.read_text()) < BACKLOG:
                cap.write_text(str(BACKLOG))
    try:
        return int(caps[0].read_text())
    except (OSError, ValueError):
        return 0


def module_tests(module: str) -> tuple[set[str], dict[str, str], str | None]:
    """Which features an app module implements, without importing its framework here."""
    import ast

    path = BENCH / (module.replace(".", "/") + ".py")
    tree = ast.parse(path.read_text())
    tests, not_applicable = set(), {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id == "TESTS":
                tests = set(ast.literal_eval(node.value))
            elif node.targets[0].id == "NOT_APPLICABLE":
                not_applicable = ast.literal_eval(node.value)
    return tests, not_applicable, None


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    rps = [r["requests_per_s"] for r in runs]
    p50 = [r["p50_ms"] for r in runs if r["p50_ms"] is not None]
    p99 = [r["p99_ms"] for r in runs if r["p99_ms"] is not None]
    cpu = [r["cpu_us_per_req"] for r in runs if r.get("cpu_us_per_req")]
    return {
        "status": "ok",
        "rps": statistics.median(rps),
        "rps_min": min(rps),
        "rps_max": max(rps),
        "p50_ms": statistics.median(p50) if p50 else None,
        "p99_ms": statistics.median(p99) if p99 else None,
        "cpu_us": statistics.median(cpu) if cpu else None,
        "errors": sum(r["errors"] for r in runs),
        "unaccepted": max(r.get("unaccepted", 0) for r in runs),
        "requests": sum(r["requests"] for r in runs),
        "runs": runs,
    }


class AcceptQueue:
    """Samples the server's accept queue while wrk runs: ``last`` is what was still
    waiting at the last sample before wrk finished (connections that were never served
    and that wrk does not count), ``most`` the longest queue seen."""

    def __init__(self, running: servers.Running, every: float = 0.5) -> None:
        self.running, self.every = running, every
        self.last = self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.every):
            self.last = self.running.accept_queue()
            self.most = max(self.most, self.last)

    def __enter__(self) -> AcceptQueue:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


class Suite:
    """Runs the passes. Each pass starts every (framework, server) in turn, checks it and
    gives each test one timed wrk run; the figures are the median over the passes. A
    slow patch of a shared machine thus lands on one run of every config, not on all
    the runs of one config."""

    def __init__(self, args: argparse.Namespace, dsn: str, db_conn: Any, log_dir: Path) -> None:
        self.args = args
        self.dsn = dsn
        self.db = db_conn
        self.log_dir = log_dir
        self.cells: dict[str, dict[str, dict[str, Any]]] = {}  # config -> test -> cell
        self.conc: dict[str, dict[str, dict[str, Any]]] = {}  # config -> connections -> cell
        self.memory: dict[str, list[float]] = {}
        self.commands: dict[str, list[str]] = {}
        self.wrk_commands: dict[str, list[str]] = {}

    def wrk_run(
        self, name: str, running: servers.Running, path: str, connections: int,
        lua: str | None, duration: float,
    ) -> dict[str, Any]:  # fmt: skip
        url = f"{running.url}{path}"
        script = None
        if lua:
            script = str(self.log_dir / f"{name}.lua")
            Path(script).write_text(lua)
        kw = {
            "connections": connections, "script": script, "timeout": self.args.timeout,
            "nice": self.args.nice,
        }  # fmt: skip
        if self.args.warmup > 0:
            wrk.run(url, duration=self.args.warmup, **kw)
            # A worker that handles one connection at a time (gunicorn sync) still owes
            # answers to the warmup's abandoned connections; wait until it is free, or
            # the timed run would measure that backlog.
            servers.get(running.port, "/json", timeout=120)
        load = float(Path("/proc/loadavg").read_text().split()[0])
        (user_before, system_before), core_before = (
            running.cpu_times(),
            servers.core_user_seconds(0),
        )
        started = time.monotonic()
        with AcceptQueue(running) as queue:
            res, _, argv = wrk.run(url, duration=duration, **kw)
        wall = time.monotonic() - started
        user_after, system_after = running.cpu_times()
        cpu = user_after + system_after - user_before - system_before
        # Interference on the core under test: user time on core 0 that the server did
        # not spend (wrk and PostgreSQL are pinned to core 1).
        other = servers.core_user_seconds(0) - core_before - (user_after - user_before)
        shown = [re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:$PORT", a) for a in argv]
        self.wrk_commands[name] = [a.replace(str(self.log_dir), "$LOGS") for a in shown]
        # CPU time the server spent per answered request: unlike req/s it barely moves
        # when other work competes for the core.
        cpu_us = cpu / res.requests * 1e6 if res.requests else None
        return {
            **res.as_dict(), "load1": load, "cpu_us_per_req": cpu_us,
            "unaccepted": queue.last, "unaccepted_max": queue.most,
            "core0_other": max(0.0, other) / wall if wall > 0 else None,
        }  # fmt: skip

    def _fail(self, cell: dict[str, Any], note: str) -> None:
        cell["status"] = "failed"
        cell.setdefault("notes", []).append(note)

    def run_config(self, framework: str, server: str, pass_no: int) -> None:
        module, _ = FRAMEWORKS[framework]
        key = f"{framework}/{server}"
        tests, not_applicable, _ = module_tests(module)
        cells = self.cells.setdefault(key, {})
        wanted = [t for t in self.args.tests if t in TESTS]
        for t in wanted:
            cell = cells.setdefault(t, {"status": "ok", "runs": []})
            if FEATURE[t] in not_applicable:
                cell.update(status="n/a", note=not_applicable[FEATURE[t]])
            elif FEATURE[t] not in tests:
                cell.update(status="n/a", note="not written for this framework")
        port = servers.free_port()
        argv = servers.server_argv(server, f"{module}:app", port, backlog=BACKLOG)
        self.commands[key] = ["taskset", "-c", "0", *argv]
        log(f"pass {pass_no}: {key}: starting")
        try:
            running = servers.start(
                key, argv, port=port, cwd=BENCH, env={"BENCH_PG_DSN": self.dsn},
                log_dir=self.log_dir, ready_path="/json", nice=self.args.nice,
            )  # fmt: skip
        except Exception as exc:
            for t in wanted:
                if cells[t]["status"] != "n/a":
                    self._fail(cells[t], f"server did not start: {exc}")
            log(f"{key}: FAILED to start: {str(exc).splitlines()[0]}")
            return
        try:
            self._run_tests(key, running, cells, wanted)
            if (
                server in CONCURRENCY_SERVERS
                and FRAMEWORKS[framework][1] == "asgi"
                and framework != "carafe-sync"
                and cells.get("json", {}).get("status") == "ok"
            ):
                self._run_concurrency(key, running)
            self.memory.setdefault(key, []).append(round(running.rss_mb(), 1))
        finally:
            running.stop()

    def _run_tests(
        self, key: str, running: servers.Running, cells: dict, wanted: list[str]
    ) -> None:
        for t in wanted:
            cell = cells[t]
            if cell["status"] != "ok":
                continue  # n/a, or already wrong in an earlier pass: never timed
            test = TESTS[t]
            try:
                problems = test.check(running.port, self.db)
            except Exception as exc:
                problems = [f"check raised {exc!r}"]
            if problems:
                self._fail(cell, "; ".join(problems)[:2000])
                log(f"{key} {t}: WRONG ANSWER: {problems[0][:200]}")
                continue
            try:
                run = self.wrk_run(
                    t, running, test.path, test.connections, test.lua, self.args.duration
                )
            except Exception as exc:
                self._fail(cell, f"wrk: {exc}")
                continue
            if not running.alive():
                self._fail(cell, f"server died: {running.log_tail(5)}")
                return
            cell["runs"].append(run)
            log(f"{key} {t}: {run['requests_per_s']:,.0f} req/s, {run['errors']} errors")

    def _run_concurrency(self, key: str, running: servers.Running) -> None:
        by_level = self.conc.setdefault(key, {})
        duration = max(self.args.duration, self.args.concurrency_duration)
        for c in self.args.concurrency:
            cell = by_level.setdefault(str(c), {"status": "ok", "runs": []})
            if cell["status"] != "ok":
                continue
            try:
                run = self.wrk_run(f"json@{c}", running, "/json", c, None, duration)
            except Exception as exc:
                self._fail(cell, str(exc)[:500])
                continue
            if not running.alive():
                self._fail(cell, f"server died: {running.log_tail(5)}")
                return
            cell["runs"].append(run)
            log(f"{key} json@{c}: {run['requests_per_s']:,.0f} req/s, {run['errors']} errors")

    @staticmethod
    def _final(cell: dict[str, Any]) -> dict[str, Any]:
        if cell["status"] == "ok" and cell["runs"]:
            return summarize(cell["runs"])
        if cell["status"] == "failed":
            return {"status": "failed", "note": " | ".join(dict.fromkeys(cell.get("notes", [])))}
        if cell["status"] == "ok":
            return {"status": "failed", "note": "no run completed"}
        return {k: v for k, v in cell.items() if k != "runs"}

    def results(self) -> dict[str, dict[str, Any]]:
        return {k: {t: self._final(c) for t, c in cells.items()} for k, cells in self.cells.items()}

    def concurrency(self) -> dict[str, dict[str, Any]]:
        return {k: {c: self._final(v) for c, v in lv.items()} for k, lv in self.conc.items()}


def _spread_of(suite: Suite, field: str) -> dict[str, float]:
    """Median, min and max of one per-run figure over every timed run: ``load1`` (the
    1-minute load average at the start of the run) or ``core0_other`` (the share of the
    server's core that other programs used during it)."""
    values = [
        r[field]
        for by in (*suite.cells.values(), *suite.conc.values())
        for cell in by.values()
        for r in cell.get("runs", [])
        if r.get(field) is not None
    ]
    if not values:
        return {}
    return {"median": statistics.median(values), "max": max(values), "min": min(values)}


def import_times(frameworks: list[str], repeat: int) -> dict[str, dict[str, float]]:
    """Median wall time to import each app module (framework + app build) in a fresh interpreter."""
    out = {}
    code = "import time, importlib; t = time.perf_counter(); importlib.import_module({m!r}); print(time.perf_counter() - t)"
    for fw in frameworks:
        module = FRAMEWORKS[fw][0]
        times = []
        for _ in range(repeat):
            proc = subprocess.run(
                [sys.executable, "-c", code.format(m=module)], cwd=BENCH, capture_output=True, text=True, check=False,
                env={**os.environ, "PYTHONPATH": str(BENCH)},
            )  # fmt: skip
            if proc.returncode != 0:
                out[fw] = {"status": "failed", "note": proc.stderr.strip().splitlines()[-1:]}
                break
            times.append(float(proc.stdout.strip()) * 1e3)
        else:
            out[fw] = {"ms": statistics.median(times), "min": min(times), "max": max(times)}
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {"platform": platform.platform(), "python": sys.version.split()[0]}
    try:
        cpu = [
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ]
        info["cpu"] = f"{cpu[0]} x {len(cpu)}" if cpu else platform.processor()
        mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
        info["memory_gib"] = round(int(mem) / 1024 / 1024, 1)
    except OSError:
        pass
    info["cores"] = os.cpu_count()
    with contextlib.suppress(OSError, StopIteration):
        info["os"] = next(
            ln.split("=", 1)[1].strip('"')
            for ln in Path("/etc/os-release").read_text().splitlines()
            if ln.startswith("PRETTY_NAME")
        )
    wrk_v = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    info["wrk"] = (
        (wrk_v.stdout or wrk_v.stderr).strip().splitlines()[0]
        if (wrk_v.stdout or wrk_v.stderr)
        else "?"
    )
    return info


def versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def configs(args: argparse.Namespace) -> list[tuple[str, str]]:
    out = []
    for fw in args.frameworks:
        servers_for = SERVERS[FRAMEWORKS[fw][1]] + EXTRA_SERVERS.get(fw, [])
        servers_for = ONLY_SERVERS.get(fw, servers_for)
        out += [
            (fw, s)
            for s in servers_for
            if s in args.servers or (s == "carafe" and "carafe" in args.servers)
        ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="1 run, short durations, 100/1000 connections"
    )
    parser.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    all_servers = sorted({s for v in SERVERS.values() for s in v} | {"carafe"})
    parser.add_argument("--servers", default=",".join(all_servers))
    parser.add_argument("--tests", default=",".join(TESTS))
    parser.add_argument("--runs", type=int, default=3, help="passes; each figure is their median")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of wrk before each run")
    parser.add_argument("--timeout", type=float, default=5.0, help="wrk --timeout, seconds")
    parser.add_argument("--concurrency", default="100,1000,10000")
    parser.add_argument("--concurrency-duration", type=float, default=6.0)
    parser.add_argument("--import-repeat", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument(
        "--nice", type=int, default=0,
        help="run servers, wrk and PostgreSQL at this nice level (e.g. -10 on a shared machine)",
    )  # fmt: skip
    parser.add_argument("--no-inprocess", action="store_true", help="skip bench/inprocess.py")
    parser.add_argument("--pg-port", type=int, default=0, help="0 = any free port")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.warmup = 1, 2.0, 1.0
        args.concurrency_duration, args.import_repeat = 3.0, 3
        if args.concurrency == "100,1000,10000":
            args.concurrency = "100,1000"
    args.frameworks = args.frameworks.split(",")
    args.servers = args.servers.split(",")
    args.tests = args.tests.split(",")
    args.concurrency = [int(c) for c in args.concurrency.split(",") if c]

    if not wrk.available():
        log("wrk is not installed (Debian: apt-get install -y wrk); bench/run installs it")
        return 2
    started = time.time()
    # This process (and the accept-queue sampler thread it runs during each timed run)
    # stays off the core under test.
    with contextlib.suppress(OSError, AttributeError):
        os.sched_setaffinity(0, {1})
    fd_limit = raise_fd_limit()
    somaxconn = raise_listen_backlog()
    inproc = None
    if not args.no_inprocess:
        log("in-process benchmark (bench/inprocess.py)")
        path = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/carafe-bench-logs")) / "inprocess.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        rep = ["--repeat", "3", "--block", "0.1"] if args.quick else []
        subprocess.run(
            [sys.executable, str(BENCH / "inprocess.py"), "--json", str(path), *rep], check=False
        )
        if path.exists():
            inproc = json.loads(path.read_text())
    log(f"open-file limit: {fd_limit}; listen queue cap (somaxconn): {somaxconn}")
    log_dir = Path(os.environ.get("BENCH_LOG_DIR", "/tmp/carafe-bench-logs"))
    log_dir.mkdir(parents=True, exist_ok=True)
    cluster = pg.Cluster.create(port=args.pg_port or servers.free_port(), cpu=1, nice=args.nice)
    log(f"PostgreSQL up: {cluster.version} on port {cluster.port}, pinned to core 1")
    import psycopg

    try:
        with psycopg.connect(cluster.dsn, autocommit=True) as db:
            suite = Suite(args, cluster.dsn, db, log_dir)
            for pass_no in range(1, args.runs + 1):
                for fw, server in configs(args):
                    try:
                        suite.run_config(fw, server, pass_no)
                    except Exception:
                        log(f"{fw}/{server}: suite error:\n{traceback.format_exc()}")
        log("import times")
        imports = import_times(args.frameworks, args.import_repeat)
        pg_version = cluster.version
    finally:
        cluster.stop()

    elapsed = time.time() - started
    report = {
        "quick": args.quick,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "elapsed_s": round(elapsed),
        "command": " ".join(["bench/run", *(argv if argv is not None else sys.argv[1:])]),
        "settings": {
            "runs": args.runs,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "timeout_s": args.timeout,
            "concurrency": args.concurrency,
            "concurrency_duration_s": max(args.duration, args.concurrency_duration),
            "fd_limit": fd_limit,
            "somaxconn": somaxconn,
            "backlog": BACKLOG,
            "nice": args.nice,
            "pool_max": int(os.environ.get("BENCH_POOL_MAX", "64")),
        },
        "machine": {**machine(), "postgresql": pg_version},
        "versions": versions(),
        "tests": {
            k: {"title": t.title, "path": t.path, "connections": t.connections}
            for k, t in TESTS.items()
            if k in args.tests
        },
        "server_commands": suite.commands,
        "wrk_commands": suite.wrk_commands,
        "results": suite.results(),
        "concurrency": suite.concurrency(),
        "memory_mb": {k: statistics.median(v) for k, v in suite.memory.items()},
        "load1": _spread_of(suite, "load1"),
        "core0_other": _spread_of(suite, "core0_other"),
        "import_ms": imports,
        "inprocess": inproc,
    }
    out = Path(args.out)
    data_dir = out.parent / "benchmarks"
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "results.json").write_text(json.dumps(report, indent=1, default=str) + "\n")
    import report as report_mod

    report_mod.write(report, out, data_dir)
    log(f"wrote {out} and {data_dir}/ in {elapsed / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
