"""Through a real server: Carafe's ``carafe run`` against the raw ASGI floor under uvicorn.

    .venv/bin/python bench/server.py                  # wrk -t1 -c64 -d10s, 3 runs each
    .venv/bin/python bench/server.py --runs 5 --json out.json

The server is pinned to core 0 and wrk to core 1 (``taskset``), on loopback. Each
target's /json answer is checked before it is timed; each target gets a warmup, then
``--runs`` wrk runs, and the median is reported with the spread.

Targets:
  raw/uvicorn        bench/apps/raw_app.py under uvicorn (uvloop, httptools, no access log)
  carafe/carafe-run  bench/apps/carafe_app.py under ``carafe run`` (its own defaults)
  carafe/uvicorn     the same Carafe app under the same uvicorn command line as the floor
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import servers  # noqa: E402
import wrk  # noqa: E402
from cases import CASES  # noqa: E402

TARGETS = {
    "raw/uvicorn": ("uvicorn", "apps.raw_app:app"),
    "carafe/carafe-run": ("carafe", "apps.carafe_app:app"),
    "carafe/uvicorn": ("uvicorn", "apps.carafe_app:app"),
}


def check_json(port: int) -> str | None:
    reply = servers.get(port, "/json")
    hdrs = [(k.encode(), v.encode()) for k, v in reply.headers.items()]
    return CASES["json"].check(reply.status, hdrs, reply.body)


def _start(name: str, log_dir: Path) -> tuple[Any, dict[str, Any] | None]:
    server, target = TARGETS[name]
    if (
        server == "carafe"
        and not shutil.which("carafe")
        and not (servers.VENV_BIN / "carafe").exists()
    ):
        return None, {"status": "unavailable", "note": "the `carafe` command is not installed"}
    port = servers.free_port()
    argv = servers.server_argv(server, target, port)
    try:
        running = servers.start(
            name, argv, port=port, cwd=BENCH, log_dir=log_dir, ready_path="/json"
        )
    except RuntimeError as exc:
        return None, {"status": "failed", "note": str(exc), "command": argv}
    problem = check_json(port)
    if problem:
        running.stop()
        return None, {
            "status": "failed",
            "note": f"/json answered wrong: {problem}",
            "command": argv,
        }
    return running, None


def measure(names: list[str], args: argparse.Namespace, log_dir: Path) -> dict[str, dict[str, Any]]:
    """Start every target (all pinned to core 0; idle ones cost nothing), then interleave
    their wrk runs, so a slow patch of the machine hits every target alike."""
    results: dict[str, dict[str, Any]] = {}
    running: dict[str, Any] = {}
    try:
        for name in names:
            proc, failure = _start(name, log_dir)
            if failure:
                results[name] = failure
            else:
                running[name] = proc
        for proc in running.values():
            wrk.run(f"{proc.url}/json", connections=args.connections, duration=args.warmup)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in running}
        wrk_argv: list[str] = []
        for i in range(args.runs):
            for name, proc in running.items():
                cpu0 = proc.cpu_seconds()
                res, _, wrk_argv = wrk.run(
                    f"{proc.url}/json", connections=args.connections, duration=args.duration
                )
                cpu_us = (proc.cpu_seconds() - cpu0) / max(res.requests, 1) * 1e6
                print(
                    f"  {name} run {i + 1}: {res.requests_per_s:,.0f} req/s, "
                    f"{cpu_us:.1f} CPU us/req",
                    file=sys.stderr,
                )
                runs[name].append({**res.as_dict(), "cpu_us_per_req": cpu_us})
        for name, proc in running.items():
            if not proc.alive():
                results[name] = {"status": "failed", "note": f"server died:\n{proc.log_tail()}"}
                continue
            rps = [r["requests_per_s"] for r in runs[name]]
            results[name] = {
                "status": "ok",
                "command": ["taskset", "-c", "0", *proc.argv[3:]],
                "wrk_command": wrk_argv,
                "rps_median": statistics.median(rps),
                "rps_min": min(rps),
                "rps_max": max(rps),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs[name]),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs[name]),
                "errors": sum(r["errors"] for r in runs[name]),
                "cpu_us_per_req": statistics.median(r["cpu_us_per_req"] for r in runs[name]),
                "rss_mb": round(proc.rss_mb(), 1),
                "runs": runs[name],
            }
    finally:
        for proc in running.values():
            proc.stop()
    return {name: results[name] for name in names}


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"wrk -t1 -c{args.connections} -d{args.duration:g}s on /json, server on core 0, "
        f"wrk on core 1, median of {args.runs} runs",
        f"{'target':<20}{'req/s':>10}{'spread':>9}{'p50 ms':>8}{'p99 ms':>8}{'errors':>8}{'RSS MiB':>9}{'CPU us/req':>11}",
    ]
    for name, r in results.items():
        if r["status"] != "ok":
            lines.append(f"{name:<20}{r['status']:>10}  {r['note'].splitlines()[0]}")
            continue
        spread = (r["rps_max"] - r["rps_min"]) / 2 / r["rps_median"] * 100
        lines.append(
            f"{name:<20}{r['rps_median']:>10,.0f}{f'±{spread:.1f}%':>9}{r['p50_ms']:>8.2f}"
            f"{r['p99_ms']:>8.2f}{r['errors']:>8}{r['rss_mb']:>9.1f}{r['cpu_us_per_req']:>11.1f}"
        )
    floor = results.get("raw/uvicorn", {})
    if floor.get("status") == "ok":
        lines.append("")
        for name, r in results.items():
            if name != "raw/uvicorn" and r["status"] == "ok":
                ratio = r["rps_median"] / floor["rps_median"]
                by_cpu = floor["cpu_us_per_req"] / r["cpu_us_per_req"]
                lines.append(
                    f"{name} / raw/uvicorn = {ratio:.2f} ({ratio * 100:.0f}% of the floor); "
                    f"by server CPU time per request: {by_cpu * 100:.0f}%"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--targets", default=",".join(TARGETS), help="comma-separated")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warmup")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args(argv)
    if not wrk.available():
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="carafe-bench-logs-"))
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    results = measure(args.targets.split(","), args, log_dir)
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    print(render(results, args))
    print(f"load average before {' '.join(load_before)}, after {' '.join(load_after)}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["status"] == "ok" for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
