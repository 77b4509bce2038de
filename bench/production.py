"""Production features, measured: rate limit and cache hits, the response cache, workers.

    .venv/bin/python bench/production.py                  # the three parts, ~5 min
    .venv/bin/python bench/production.py --parts cache,workers --runs 5
    .venv/bin/python bench/production.py --json docs/benchmarks/production.json \\
        --doc docs/benchmarks.md                          # record it (what the doc shows)

Three parts:

inprocess
    ``bench/inprocess.py``'s cases ``json``, ``ratelimit`` and ``cache_hit`` for Carafe
    and Litestar (apps called as ASGI callables, CPU time). The cost of each feature is
    its case's time minus the plain ``json`` case's time in the same run, compared with
    Litestar's (its ``RateLimitConfig`` middleware, its route ``cache=True`` with the
    memory store).
cache
    ``bench/production_app.py`` under ``carafe run`` (one worker, pinned to core 0, wrk
    on core 1): requests/s of an endpoint that builds 100 items (JSON) or renders a
    100-row Jinja2 page, against the same endpoint served from ``ResponseCache``.
workers
    ``carafe run --workers 2`` against one worker on /json and on the 100-row page.
    Nothing is pinned: on a 2-core machine the workers and wrk share both cores, as
    they would on a small production box with its load generator (or its proxy).

Each answer is checked before it is timed (a cached one must carry ``Age``, and be the
uncached one's body); each target gets a warmup, then ``--runs`` wrk runs interleaved
across targets, and the median is reported with the spread.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import inprocess  # noqa: E402
import servers  # noqa: E402
import wrk  # noqa: E402
from mdsection import replace_section  # noqa: E402

PARTS = ("inprocess", "cache", "workers")
TARGET = "production_app:app"
CACHE_PATHS = ("/list", "/list/cached", "/page", "/page/cached")
WORKER_PATHS = ("/json", "/page")
SECTION = "## Production features"


# ---------------------------------------------------------------------------- in-process


def run_inprocess(args: argparse.Namespace) -> dict[str, Any]:
    """The in-process harness on three cases; each feature's cost over plain /json."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        argv = ["--apps", "carafe,litestar", "--cases", "json,ratelimit,cache_hit"]
        argv += ["--repeat", str(args.repeat), "--json", out.name]
        status = inprocess.main(argv)
        report = json.loads(Path(out.name).read_text())
    summary: dict[str, Any] = {}
    results = report["results"]
    for case in ("ratelimit", "cache_hit"):
        row: dict[str, Any] = {}
        for name in ("carafe", "litestar"):
            plain, feature = results[name]["json"], results[name][case]
            if plain["status"] != "ok" or feature["status"] != "ok":
                row[name] = {"status": feature["status"], "note": feature.get("note", "")}
                continue
            row[name] = {
                "status": "ok",
                "plain_us": plain["median_us"],
                "with_feature_us": feature["median_us"],
                "cost_us": round(feature["median_us"] - plain["median_us"], 3),
            }
        if all(row[n]["status"] == "ok" for n in row) and row["carafe"]["cost_us"] > 0:
            row["litestar_cost_over_carafe_cost"] = round(
                row["litestar"]["cost_us"] / row["carafe"]["cost_us"], 2
            )
        summary[case] = row
    background = limiter_background()
    return {
        "status": "ok" if status == 0 else "failed",
        "report": report,
        "summary": summary,
        "limiter_background_cpu_s": background,
    }


def limiter_background(clients: int = 10_000) -> dict[str, float]:
    """CPU seconds the in-memory limiter spends in the second after one request, once
    ``clients`` clients have been counted, per strategy (its expiry pass, which the
    in-process timing barely sees: the pass runs while the event loop is idle)."""
    import asyncio

    from cases import RATE_LIMIT
    from limits import parse

    from carafe.ratelimit import RateLimits

    async def one(strategy: Any) -> float:
        limits, item = RateLimits(strategy=strategy), parse(f"{RATE_LIMIT}/minute")
        for i in range(clients):
            await limits.hit(item, f"client{i}")
        await asyncio.sleep(2.0)  # the pass the counting started
        start = time.process_time()
        await limits.hit(item, "client0")  # arms the next pass
        await asyncio.sleep(1.0)
        return round(time.process_time() - start, 3)

    out = {}
    for strategy in ("moving-window", "fixed-window", "sliding-window"):
        out[strategy] = asyncio.run(one(strategy))
    return out


# ---------------------------------------------------------------------------- through wrk


def check(port: int, path: str) -> str | None:
    """None when ``path`` answers right (a cached path: twice, the second from the cache)."""
    from production_app import expected

    ctype, body = expected(path)
    replies = [servers.get(port, path) for _ in range(2)]
    for reply in replies:
        if reply.status != 200:
            return f"{path}: status {reply.status}"
        if not reply.headers.get("content-type", "").startswith(ctype):
            return f"{path}: content-type {reply.headers.get('content-type')!r}"
        got = json.loads(reply.body) if ctype == "application/json" else reply.body
        if got != body:
            return f"{path}: wrong body {reply.body[:120]!r}"
    cached = "age" in replies[1].headers
    if path.endswith("/cached") and not cached:
        return f"{path}: the second answer did not come from the cache (no Age header)"
    if not path.endswith("/cached") and cached:
        return f"{path}: answered from the cache"
    return None


def start(name: str, workers: int, cpu: int | None, log_dir: Path) -> servers.Running:
    port = servers.free_port()
    argv = servers.server_argv("carafe", TARGET, port)
    if workers > 1:
        argv += ["--workers", str(workers)]
    return servers.start(
        name, argv, port=port, cwd=BENCH, cpu=cpu, log_dir=log_dir, ready_path="/json"
    )


def measure(
    targets: dict[str, tuple[servers.Running, str]], args: argparse.Namespace, cpu: int | None
) -> dict[str, dict[str, Any]]:
    """Warm up each (server, path), then ``--runs`` wrk runs interleaved across them."""
    for proc, path in targets.values():
        problem = check(proc.port, path)
        if problem:
            raise RuntimeError(f"{proc.name}: {problem}")
    for proc, path in targets.values():
        wrk.run(proc.url + path, connections=args.connections, duration=args.warmup, cpu=cpu)
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in targets}
    wrk_argv: dict[str, list[str]] = {}
    procs = list({id(proc): proc for proc, _ in targets.values()}.values())
    for i in range(args.runs):
        for label, (proc, path) in targets.items():
            if args.wait_quiet:
                wait_quiet(procs, args.wait_quiet)
            cpu0, busy0, wrk0 = proc.cpu_seconds(), _busy_seconds(), _children_seconds()
            res, _, wrk_argv[label] = wrk.run(
                proc.url + path, connections=args.connections, duration=args.duration, cpu=cpu
            )
            server = proc.cpu_seconds() - cpu0
            other = _busy_seconds() - busy0 - server - (_children_seconds() - wrk0)
            cpu_us = server / max(res.requests, 1) * 1e6
            print(
                f"  {label} run {i + 1}: {res.requests_per_s:,.0f} req/s, "
                f"{cpu_us:.1f} server CPU us/req, other programs {other / args.duration:.2f} cores",
                file=sys.stderr,
            )
            runs[label].append(
                {
                    **res.as_dict(),
                    "cpu_us_per_req": cpu_us,
                    "other_cores": round(max(other, 0.0) / args.duration, 3),
                }
            )
    out = {}
    for label, (proc, path) in targets.items():
        if not proc.alive():
            raise RuntimeError(f"{proc.name} died:\n{proc.log_tail()}")
        rps = [r["requests_per_s"] for r in runs[label]]
        out[label] = {
            "server_command": _shown(proc.argv),
            "path": path,
            "wrk_command": _shown(wrk_argv[label]),
            "rps_median": statistics.median(rps),
            "rps_min": min(rps),
            "rps_max": max(rps),
            "p50_ms": statistics.median(r["p50_ms"] for r in runs[label]),
            "p99_ms": statistics.median(r["p99_ms"] for r in runs[label]),
            "errors": sum(r["errors"] for r in runs[label]),
            "cpu_us_per_req": round(statistics.median(r["cpu_us_per_req"] for r in runs[label]), 1),
            "other_cores_max": max(r["other_cores"] for r in runs[label]),
            "runs": runs[label],
        }
    return out


def wait_quiet(procs: list[servers.Running], limit: float, most: float = 0.2) -> float:
    """Wait up to ``limit`` seconds for a second in which programs other than ``procs``
    use under ``most`` cores; return the cores they used in the last second sampled."""
    deadline = time.monotonic() + limit
    while True:
        busy0, own0 = _busy_seconds(), sum(p.cpu_seconds() for p in procs)
        time.sleep(1.0)
        other = _busy_seconds() - busy0 - (sum(p.cpu_seconds() for p in procs) - own0)
        if other < most or time.monotonic() >= deadline:
            return max(other, 0.0)


def _busy_seconds() -> float:
    """CPU time every core has spent busy so far (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, _idle, _iowait, irq, softirq = map(int, fields[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def _children_seconds() -> float:
    """User + system CPU time of the finished children (the wrk runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _shown(argv: list[str]) -> list[str]:
    """A command as a reader types it: ``.venv/bin/...``, ``$PORT`` for the port."""
    shown = [a.replace(str(servers.VENV_BIN) + "/", ".venv/bin/") for a in argv]
    shown = ["$PORT" if i and shown[i - 1] == "--port" else a for i, a in enumerate(shown)]
    return [a.replace(a.split("/")[2], "127.0.0.1:$PORT") if "://" in a else a for a in shown]


def run_cache(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    proc = start("carafe-1-worker", 1, 0, log_dir)
    try:
        results = measure({path: (proc, path) for path in CACHE_PATHS}, args, cpu=1)
    finally:
        proc.stop()
    return {"status": "ok", "results": results}


def run_workers(args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    procs = {n: start(f"carafe-{n}-workers", n, None, log_dir) for n in (1, 2)}
    try:
        targets = {
            f"{n} worker{'s' if n > 1 else ''} {path}": (proc, path)
            for path in WORKER_PATHS
            for n, proc in procs.items()
        }
        results = measure(targets, args, cpu=None)
    finally:
        for proc in procs.values():
            proc.stop()
    return {"status": "ok", "results": results}


# ---------------------------------------------------------------------------- report


def _spread(r: dict[str, Any]) -> str:
    return f"±{(r['rps_max'] - r['rps_min']) / 2 / r['rps_median'] * 100:.1f}%"


def _wrk_table(results: dict[str, dict[str, Any]], first: str) -> list[str]:
    lines = [
        f"| {first} | req/s | spread | best run req/s | p50 ms | p99 ms | errors "
        "| server CPU µs/req | other programs, cores (max) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, r in results.items():
        lines.append(
            f"| `{label}` | {r['rps_median']:,.0f} | {_spread(r)} | {r['rps_max']:,.0f} "
            f"| {r['p50_ms']:.2f} "
            f"| {r['p99_ms']:.2f} | {r['errors']} | {r['cpu_us_per_req']:.1f} "
            f"| {r['other_cores_max']:.2f} |"
        )
    return lines


def _measured(part: dict[str, Any]) -> list[str]:
    m = part["measured"]
    before, after = m["load_before_after"]
    return [
        f"Measured by `{m['command']}` on {m['date']}; load average before/after "
        f"{before} / {after}.",
        "",
    ]


def _disturbance(results: dict[str, dict[str, Any]], cores: int, s: dict[str, Any]) -> list[str]:
    """What the *other programs* column says about the table above it."""
    busiest = max(r["other_cores_max"] for r in results.values())
    waited = (
        f" Before each run the script waited (up to {s['wait_quiet_s']:g} s) for a second "
        "in which they used under 0.2 cores."
        if s.get("wait_quiet_s")
        else ""
    )
    lines = [
        "*Other programs*: CPU time the machine spent in neither the server nor wrk during "
        f"a timed run, in cores (the most over the runs).{waited}",
        "",
    ]
    if busiest > 0.15:
        lines += [
            f"**Other programs used up to {busiest:.2f} of the {cores} cores during these "
            "runs**: the server and wrk got what was left, so the requests/s are below what "
            "the machine serves alone and the spreads are wide. Read the ratios, not the "
            "absolute figures; the best run is the least disturbed one.",
            "",
        ]
    return lines


def section(data: dict[str, Any]) -> list[str]:
    """The "Production features" section of docs/benchmarks.md, from production.json."""
    lines = [
        SECTION,
        "",
        f"Measured by `bench/production.py` on {data['machine']['cpus']}, "
        f"{data['machine']['cores']} cores, Python {data['versions']['python']}; each part "
        "says its command and time. Raw data: "
        "[benchmarks/production.json](benchmarks/production.json).",
        "",
    ]
    part = data.get("inprocess")
    if part:
        rep = part["report"]
        lines += [
            "### Rate limit and cache hit, in-process",
            "",
            *_measured(part),
            "The app called as an ASGI callable (`bench/inprocess.py --apps carafe,litestar "
            f"--cases json,ratelimit,cache_hit --repeat {rep['repeat']}`; CPU time, median "
            "of the blocks, 100 other routes in every app). *Cost* is the feature's "
            "endpoint minus the plain `/json` endpoint of the same framework in the same "
            "run; both answer the same JSON.",
            "",
            f"- `ratelimit`: {rep['cases']['ratelimit']}. Carafe: `rate_limit(...)` on the "
            "route (limits' default moving window); Litestar: `RateLimitConfig` middleware "
            "(its fixed window in its memory store). The requests come from 10,000 client "
            "addresses in turn (a wrapper both apps pay for, included in the cost), each "
            "far under its budget: every request is counted and let through.",
            f"- `cache_hit`: {rep['cases']['cache_hit']}. Carafe: `ResponseCache` with "
            "`MemoryCache` and `cache(60)` on the route; Litestar: `cache=True` on the "
            "route with its default memory store. The handler counts its calls, and the "
            "check before timing requires the second answer to say 1 (it came from the "
            "cache).",
            "",
            "| feature | Carafe plain µs | Carafe with it µs | **Carafe cost µs** "
            "| Litestar plain µs | Litestar with it µs | **Litestar cost µs** "
            "| Litestar cost / Carafe cost |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for case, row in part["summary"].items():
            c, li = row["carafe"], row["litestar"]
            if c["status"] != "ok" or li["status"] != "ok":
                lines.append(f"| {case} | {c['status']} | | | {li['status']} | | | |")
                continue
            ratio = row.get("litestar_cost_over_carafe_cost")
            lines.append(
                f"| {case} | {c['plain_us']:.2f} | {c['with_feature_us']:.2f} "
                f"| **{c['cost_us']:.2f}** | {li['plain_us']:.2f} | {li['with_feature_us']:.2f} "
                f"| **{li['cost_us']:.2f}** | {f'{ratio:.1f}' if ratio else '–'} |"
            )
        lines.append("")
        background = part.get("limiter_background_cpu_s")
        if background:
            per = ", ".join(f"{k} {v:.3f} s" for k, v in background.items())
            lines += [
                "Not in the per-request figure: `limits`' memory storage also runs an expiry "
                "pass over every client it counts, started by a request once the previous "
                "pass is done, while the event loop is otherwise idle. With 10,000 clients "
                f"counted, the CPU time spent in the second after one request: {per} "
                "(`limiter_background()` in `bench/production.py`; the moving window, "
                "Carafe's default, hops to a thread once per client in each pass). "
                "Litestar's memory store runs no pass: it drops an expired entry when it "
                "reads it.",
                "",
            ]
    part = data.get("cache")
    if part:
        res, s = part["results"], part["measured"]["settings"]
        lines += [
            "### Cached against uncached, through `carafe run`",
            "",
            *_measured(part),
            "`bench/production_app.py` under `carafe run` (one worker, core 0), wrk on core "
            f"1, {s['connections']} connections, median of {s['runs']} runs of "
            f"{s['duration_s']:g} s after {s['warmup_s']:g} s of warmup. `/list` builds 100 "
            "msgspec Structs and returns them as JSON; `/page` renders them in a 100-row "
            "Jinja2 table with escaping; the `/cached` twins are the same handlers with "
            "`cache(60)` behind `ResponseCache(store=MemoryCache())` (the uncached ones pass "
            "through the same middleware).",
            "",
            *_wrk_table(res, "endpoint"),
            "",
            *_disturbance(res, data["machine"]["cores"], s),
        ]
        for base in ("/list", "/page"):
            if base in res and f"{base}/cached" in res:
                hit, miss = res[f"{base}/cached"], res[base]
                ratio = hit["rps_median"] / miss["rps_median"]
                by_cpu = miss["cpu_us_per_req"] / hit["cpu_us_per_req"]
                best = hit["rps_max"] / miss["rps_max"]
                lines.append(
                    f"- `{base}/cached` serves {ratio:.1f}× the requests/s of `{base}` (best "
                    f"runs: {best:.1f}×); by the server's CPU time per request (steadier on a "
                    f"shared machine), {by_cpu:.1f}×."
                )
        lines.append("")
    part = data.get("workers")
    if part:
        res, s = part["results"], part["measured"]["settings"]
        lines += [
            "### `carafe run --workers 2` against one worker",
            "",
            *_measured(part),
            f"The same app on {data['machine']['cores']} cores, nothing pinned (the workers "
            f"and wrk share the cores), {s['connections']} connections, median of "
            f"{s['runs']} runs of {s['duration_s']:g} s. Server CPU is every worker's.",
            "",
            *_wrk_table(res, "server, endpoint"),
            "",
            *_disturbance(res, data["machine"]["cores"], s),
        ]
        for path in WORKER_PATHS:
            one, two = res.get(f"1 worker {path}"), res.get(f"2 workers {path}")
            if one and two:
                ratio = two["rps_median"] / one["rps_median"]
                best = two["rps_max"] / one["rps_max"]
                lines.append(
                    f"- `{path}`: two workers serve {ratio:.2f}× one worker's requests/s "
                    f"(best runs: {best:.2f}×)."
                )
        lines.append("")
    for name, note in data.get("failures", {}).items():
        lines += [f"**{name}: failed** (not timed): {note.splitlines()[0]}", ""]
    shown: list[str] = []
    for name in ("cache", "workers"):
        for r in (data.get(name) or {}).get("results", {}).values():
            for cmd in (r["server_command"], r["wrk_command"]):
                text = " ".join(cmd)
                if text not in shown:
                    shown.append(text)
    if shown:
        lines += ["Commands (run from `bench/`; `$PORT` is a free port):", "", "```"]
        lines += [*shown, "```", ""]
    return lines


def write_doc(doc: Path, data: dict[str, Any]) -> None:
    """Put the section in ``doc``, in place of an older one (bench/mdsection.py)."""
    replace_section(doc, SECTION, "\n".join(section(data)))


def _machine() -> dict[str, Any]:
    return {
        "platform": platform.platform(),
        "cpus": inprocess._cpu_model(),
        "cores": os.cpu_count(),
    }


def _earlier(path: str, data: dict[str, Any]) -> dict[str, Any]:
    """The parts an earlier run wrote to ``path``, each with when and how it was measured,
    kept when this run measures only some parts (same machine only)."""
    try:
        earlier = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return {}
    if earlier.get("machine") != data["machine"]:
        return {}
    kept = {}
    for part in PARTS:
        found = earlier.get(part)
        if found:
            found.setdefault(
                "measured",
                {
                    "command": earlier["command"],
                    "date": earlier["date"],
                    "settings": earlier["settings"],
                    "load_before_after": [earlier["load_before"], earlier["load_after"]],
                },
            )
            kept[part] = found
    return kept


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n")[0],
        epilog="\n".join(__doc__.split("\n")[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--parts", default=",".join(PARTS), help="comma-separated (all three)")
    parser.add_argument("--repeat", type=int, default=5, help="in-process blocks per cell (5)")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections (64)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run (10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of warmup (3)")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per target (3)")
    parser.add_argument(
        "--wait-quiet", type=float, default=0.0, metavar="SECONDS",
        help="before each wrk run, wait up to SECONDS for a second in which other programs "
        "use under 0.2 cores (on a shared machine; default 0: do not wait)",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="write the results as JSON")
    parser.add_argument("--doc", metavar="FILE", help="write the section into this Markdown file")
    args = parser.parse_args(argv)
    parts = args.parts.split(",")
    unknown = set(parts) - set(PARTS)
    if unknown:
        parser.error(f"unknown parts: {', '.join(sorted(unknown))}")
    if {"cache", "workers"} & set(parts) and not wrk.available():
        print("wrk is not installed (Debian: apt-get install -y wrk)", file=sys.stderr)
        return 2
    log_dir = Path(tempfile.mkdtemp(prefix="carafe-bench-logs-"))
    data: dict[str, Any] = {
        "command": "bench/production.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "versions": inprocess.versions(),
        "settings": {
            "connections": args.connections,
            "duration_s": args.duration,
            "warmup_s": args.warmup,
            "runs": args.runs,
            "wait_quiet_s": args.wait_quiet,
        },
        "load_before": Path("/proc/loadavg").read_text().split()[0],
    }
    old = _earlier(args.json, data) if args.json else {}
    ok = True
    for part in parts:
        print(f"== {part}", file=sys.stderr)
        load_before = Path("/proc/loadavg").read_text().split()[0]
        try:
            if part == "inprocess":
                data[part] = run_inprocess(args)
            elif part == "cache":
                data[part] = run_cache(args, log_dir)
            else:
                data[part] = run_workers(args, log_dir)
        except RuntimeError as exc:
            data[part] = {"status": "failed", "note": str(exc)}
            print(f"FAILED {part}: {exc}", file=sys.stderr)
        ok = ok and data[part]["status"] == "ok"
        data[part]["measured"] = {
            "command": data["command"],
            "date": data["date"],
            "settings": data["settings"],
            "load_before_after": [load_before, Path("/proc/loadavg").read_text().split()[0]],
        }
    data["load_after"] = Path("/proc/loadavg").read_text().split()[0]
    data["failures"] = {}
    for part in parts:  # a failed part is reported, never drawn
        if data[part]["status"] != "ok":
            data["failures"][part] = data.pop(part).get("note", "failed")
    for part, kept in old.items():  # the parts this run did not measure again
        data.setdefault(part, kept)
    print("\n".join(section(data)))
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=2) + "\n")
    if args.doc:
        write_doc(Path(args.doc), data)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
