"""Turn the suite's results (``docs/benchmarks/results.json``) into docs/benchmarks.md and PNGs.

.venv/bin/python bench/report.py docs/benchmarks/results.json   # re-render only
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

PEERS = ["starlette", "fastapi", "litestar", "blacksheep", "falcon"]


def _rps(cell: dict[str, Any] | None) -> float | None:
    return cell["rps"] if cell and cell.get("status") == "ok" else None


def _fmt(n: float | None, digits: int = 0) -> str:
    return "–" if n is None else f"{n:,.{digits}f}"


def _spread(cell: dict[str, Any]) -> str:
    if cell.get("status") != "ok" or len(cell["runs"]) < 2:
        return ""
    return f"±{(cell['rps_max'] - cell['rps_min']) / 2 / cell['rps'] * 100:.1f}%"


def _cell_text(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "–"
    if cell.get("status") == "ok":
        return _fmt(cell["rps"])
    return {"failed": "**failed**", "n/a": "n/a"}.get(cell["status"], cell["status"])


def _split(key: str) -> tuple[str, str]:
    fw, server = key.split("/", 1)
    return fw, server


def _servers(results: dict[str, Any]) -> list[str]:
    seen: list[str] = []
    for key in results:
        s = _split(key)[1]
        if s not in seen:
            seen.append(s)
    return seen


def overview(report: dict[str, Any]) -> list[str]:
    results, tests = report["results"], list(report["tests"])
    lines = []
    for server in _servers(results):
        keys = [k for k in results if _split(k)[1] == server]
        lines += [f"### Under {server}", "", "Requests per second (median).", ""]
        lines.append("| framework | " + " | ".join(tests) + " |")
        lines.append("|---|" + "---:|" * len(tests))
        for k in keys:
            lines.append(
                f"| {_split(k)[0]} | "
                + " | ".join(_cell_text(results[k].get(t)) for t in tests)
                + " |"
            )
        lines += ["", "Server CPU time per request, µs (median; lower is better).", ""]
        lines.append("| framework | " + " | ".join(tests) + " |")
        lines.append("|---|" + "---:|" * len(tests))
        for k in keys:
            cells = [results[k].get(t) or {} for t in tests]
            lines.append(
                f"| {_split(k)[0]} | "
                + " | ".join(
                    _fmt(c.get("cpu_us"), 1) if c.get("status") == "ok" else _cell_text(c)
                    for c in cells
                )
                + " |"
            )
        lines.append("")
    return lines


def detail(report: dict[str, Any]) -> list[str]:
    results = report["results"]
    lines = []
    for t, meta in report["tests"].items():
        lines += [
            f"### {meta['title']} — `{meta['path']}`, {meta['connections']} connections",
            "",
            f"![{t}](benchmarks/{t}.png)",
            "",
            "| framework / server | req/s | spread | p50 ms | p99 ms | errors | server CPU µs/req | × raw floor | × FastAPI |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for key, cells in results.items():
            cell = cells.get(t)
            if not cell:
                continue
            _fw, server = _split(key)
            if cell.get("status") != "ok":
                note = cell.get("note", "").replace("|", "\\|").replace("\n", " ")[:160]
                lines.append(f"| {key} | {_cell_text(cell)} | | | | | | | {note} |")
                continue
            floor = _rps(results.get(f"raw/{server}", {}).get(t))
            fast = _rps(results.get(f"fastapi/{server}", {}).get(t))
            lines.append(
                f"| {key} | {_fmt(cell['rps'])} | {_spread(cell)} | {_fmt(cell['p50_ms'], 2)} | "
                f"{_fmt(cell['p99_ms'], 2)} | {cell['errors']} | {_fmt(cell.get('cpu_us'), 1)} | "
                f"{_fmt(cell['rps'] / floor if floor else None, 2)} | "
                f"{_fmt(cell['rps'] / fast if fast else None, 2)} |"
            )
        lines.append("")
    return lines


def concurrency(report: dict[str, Any]) -> list[str]:
    conc = report["concurrency"]
    if not conc:
        return ["Not run.", ""]
    levels = [str(c) for c in report["settings"]["concurrency"]]
    lines = [
        "![concurrency](benchmarks/concurrency.png)",
        "",
        "| framework / server | connections | req/s | spread | p50 ms | p99 ms | errors (connect/read/write/timeout/non-2xx) | never accepted |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for key, by_level in conc.items():
        for c in levels:
            cell = by_level.get(c)
            if not cell:
                continue
            if cell.get("status") != "ok":
                lines.append(
                    f"| {key} | {int(c):,} | **failed** | | | | {cell.get('note', '')[:120]} |"
                )
                continue
            errs = [
                sum(r[f] for r in cell["runs"])
                for f in ("connect_errors", "read_errors", "write_errors", "timeouts", "non_2xx")
            ]
            lines.append(
                f"| {key} | {int(c):,} | {_fmt(cell['rps'])} | {_spread(cell)} | {_fmt(cell['p50_ms'], 2)} | "
                f"{_fmt(cell['p99_ms'], 2)} | {sum(errs)} ({'/'.join(map(str, errs))}) | "
                f"{cell.get('unaccepted', 0):,} |"
            )
    lines += [
        "",
        "*Never accepted*: connections still waiting in the server's accept queue when the "
        "run ended (the most over the runs). wrk neither answers for them nor counts them "
        "as errors, so the suite samples the listening socket's queue with `ss` "
        "while wrk runs. A *timeout* is a request answered after wrk's `--timeout`.",
        "",
    ]
    return lines


def inprocess(report: dict[str, Any]) -> list[str]:
    data = report.get("inprocess")
    if not data:
        return ["Not run.", ""]
    results = data["results"]
    names = list(results)
    lines = [
        f"Each app called directly as an ASGI callable (no server, no network), 100 other "
        f"routes registered first; {data['clock']} time per request in µs, median of "
        f"{data['repeat']} blocks (`bench/inprocess.py`). (harness) is the cost of the "
        f"calling loop itself, included in every figure.",
        "",
        "| case | " + " | ".join(names) + " | (harness) |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for case in data["cases"]:
        row = []
        for n in names:
            d = results[n][case]
            row.append(f"{d['median_us']:.2f}" if d["status"] == "ok" else d["status"])
        lines.append(
            f"| {case} | " + " | ".join(row) + f" | {data['harness'][case]['median_us']:.2f} |"
        )
    if "carafe" in results:
        lines += ["", "Carafe's speed-up (peer time / Carafe time):", ""]
        peers = [n for n in names if n != "carafe"]
        lines += ["| case | " + " | ".join(peers) + " |", "|---|" + "---:|" * len(peers)]
        for case in data["cases"]:
            mine = results["carafe"][case]
            row = []
            for n in peers:
                d = results[n][case]
                ok = d["status"] == "ok" and mine["status"] == "ok"
                row.append(f"{d['median_us'] / mine['median_us']:.2f}" if ok else "–")
            lines.append(f"| {case} | " + " | ".join(row) + " |")
    notes = [
        f"- {n} / {c}: {d['status']} — {d.get('note', '').splitlines()[0] if d.get('note') else ''}"
        for n in names
        for c, d in results[n].items()
        if d["status"] in ("failed", "pending", "unavailable")
    ]
    if notes:
        lines += ["", *notes]
    lines.append("")
    return lines


def resources(report: dict[str, Any]) -> list[str]:
    lines = [
        "| framework | import + app build (ms, median) | resident memory after load (MiB) per server |",
        "|---|---:|---|",
    ]
    for fw, imp in report["import_ms"].items():
        mems = ", ".join(
            f"{_split(k)[1]} {v:.0f}" for k, v in report["memory_mb"].items() if _split(k)[0] == fw
        )
        ms = _fmt(imp.get("ms"), 0) if "ms" in imp else f"failed: {imp.get('note')}"
        lines.append(f"| {fw} | {ms} | {mems or '–'} |")
    lines.append("")
    return lines


def targets(report: dict[str, Any]) -> list[str]:
    """The Carafe targets from the benchmark issue, each marked met or missed."""
    results, conc = report["results"], report["concurrency"]
    rows: list[tuple[str, str, str, str, str]] = []

    def cell(key: str, t: str) -> dict[str, Any]:
        found = results.get(key, {}).get(t) or {}
        return found if found.get("status") == "ok" else {}

    def ratios(a: str, b: str, t: str) -> tuple[float | None, float | None]:
        """a's lead over b: by req/s, and by server CPU time per request."""
        x, y = cell(a, t), cell(b, t)
        by_rps = x["rps"] / y["rps"] if x and y else None
        by_cpu = y["cpu_us"] / x["cpu_us"] if x.get("cpu_us") and y.get("cpu_us") else None
        return by_rps, by_cpu

    def row(name: str, a: str, b: str, t: str, need: float, unit: str = "x") -> None:
        value, by_cpu = ratios(a, b, t)

        def fmt(v: float | None) -> str:
            return "–" if v is None else (f"{v * 100:.0f}%" if unit == "%" else f"{v:.2f}x")

        # The raw floor against the same peer, in the same run: what a framework doing
        # the floor's work could at best show. Below the target, no framework reaches it.
        floor_text, reachable = "–", True
        if a == "carafe/uvicorn" and b != "raw/uvicorn":
            floor, floor_cpu = ratios("raw/uvicorn", b, t)
            if floor is not None:
                floor_text = f"{floor:.2f}x / {fmt(floor_cpu)}"
                reachable = floor >= need
        if value is None:
            rows.append((name, "not measured", fmt(by_cpu), floor_text, "–"))
            return
        verdict = "met" if value >= need else "**missed**"
        if value < need and not reachable:
            verdict += " (floor below target)"
        rows.append((name, fmt(value), fmt(by_cpu), floor_text, verdict))

    for t in ("json", "plaintext"):
        row(f"{t}: ≥ 85% of the raw floor (uvicorn)", "carafe/uvicorn", "raw/uvicorn", t, 0.85, "%")
    for t in report["tests"]:
        if results.get("carafe/uvicorn", {}).get(t, {}).get("status") == "n/a":
            continue
        for peer, label in (("fastapi", "2.5x FastAPI"), ("litestar", "1.3x Litestar")):
            need = 2.5 if peer == "fastapi" else 1.3
            row(f"{t}: ≥ {label} (uvicorn)", "carafe/uvicorn", f"{peer}/uvicorn", t, need)
    for t in ("fortunes", "post"):
        leads = {p: ratios("carafe/uvicorn", f"{p}/uvicorn", t)[0] for p in PEERS}
        measured = {p: lead for p, lead in leads.items() if lead is not None}
        closest = min(measured, key=measured.__getitem__, default=None)
        if closest is None:
            rows.append((f"{t}: ahead of every peer", "not measured", "–", "–", "–"))
        else:
            name = f"{t}: ahead of every peer (closest: {closest})"
            row(name, "carafe/uvicorn", f"{closest}/uvicorn", t, 1.0 + 1e-9)
    for t in report["tests"]:
        if results.get("carafe-sync/uvicorn", {}).get(t, {}).get("status") == "n/a":
            continue
        name = f"{t}, sync handlers: ≥ 3x Flask on gunicorn sync"
        row(name, "carafe-sync/uvicorn", "flask/gunicorn-sync", t, 3.0)
    for server in ("uvicorn", "granian"):
        c10k = conc.get(f"carafe/{server}", {}).get("10000")
        label = f"10,000 connections ({server}): no errors, every connection accepted"
        if c10k and c10k.get("status") == "ok":
            lost = c10k.get("unaccepted", 0)
            good = c10k["errors"] == 0 and lost == 0
            floor = conc.get(f"raw/{server}", {}).get("10000") or {}
            floor_text = (
                f"{floor['errors']} errors, {floor.get('unaccepted', 0):,} never accepted"
                if floor.get("status") == "ok"
                else "–"
            )
            measured = f"{c10k['errors']} errors, {lost:,} never accepted"
            rows.append((label, measured, "", floor_text, "met" if good else "**missed**"))
        else:
            rows.append((label, "not measured" if not c10k else "failed", "", "–", "–"))
    missed = sum(1 for r in rows if r[4].startswith("**missed**"))
    beyond = sum(1 for r in rows if r[4].endswith("(floor below target)"))
    unmeasured = sum(1 for r in rows if r[4] == "–")
    return [
        "Judged on requests per second (median). The CPU column gives the same ratio computed "
        "from the server's CPU time per request, which moves far less when other work "
        "shares the machine. The floor column is the raw ASGI app against the same peer in "
        "the same run (req/s / CPU): the most a framework doing the floor's work (the same "
        "queries, the same template) can show. Where it is below the target, the target is "
        "out of reach for any framework, and the row says so.",
        "",
        "| target | measured (req/s) | by CPU time per request | raw floor, same comparison | |",
        "|---|---:|---:|---:|---|",
        *[f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows],
        "",
        f"{len(rows) - missed - unmeasured} met, {missed} missed ({beyond} of them below "
        f"what the raw floor itself reaches), {unmeasured} not measured.",
        "",
    ]


def failures(report: dict[str, Any]) -> list[str]:
    lines = []
    for key, cells in report["results"].items():
        for t, cell in cells.items():
            if cell.get("status") == "failed":
                note = cell.get("note", "").replace("\n", " ")[:400]
                lines.append(f"- `{key}` **{t}**: {note}")
    return lines or ["None."]


def plots(report: dict[str, Any], data_dir: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    results = report["results"]
    servers = _servers(results)
    frameworks: list[str] = []
    for key in results:
        fw = _split(key)[0]
        if fw not in frameworks:
            frameworks.append(fw)
    for t, meta in report["tests"].items():
        fig, ax = plt.subplots(figsize=(10, 4.5))
        width = 0.8 / max(1, len(servers))
        for i, server in enumerate(servers):
            xs, ys, lo, hi = [], [], [], []
            for j, fw in enumerate(frameworks):
                cell = results.get(f"{fw}/{server}", {}).get(t)
                if cell and cell.get("status") == "ok":
                    xs.append(j + i * width)
                    ys.append(cell["rps"])
                    lo.append(cell["rps"] - cell["rps_min"])
                    hi.append(cell["rps_max"] - cell["rps"])
            if xs:
                ax.bar(xs, ys, width, yerr=[lo, hi], capsize=2, label=server)
        ax.set_xticks([j + width * (len(servers) - 1) / 2 for j in range(len(frameworks))])
        ax.set_xticklabels(frameworks, rotation=20)
        ax.set_ylabel("requests / s (median, min–max)")
        ax.set_title(f"{meta['title']} ({meta['path']}, {meta['connections']} connections)")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        fig.tight_layout()
        fig.savefig(data_dir / f"{t}.png", dpi=90)
        plt.close(fig)
    conc = report["concurrency"]
    if conc:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.5))
        for key, by_level in conc.items():
            pts = sorted((int(c), v) for c, v in by_level.items() if v.get("status") == "ok")
            if not pts:
                continue
            style = "--" if key.endswith("granian") else "-"
            ax1.plot([c for c, _ in pts], [v["rps"] for _, v in pts], style, marker="o", label=key)
            ax2.plot(
                [c for c, _ in pts], [v["p99_ms"] for _, v in pts], style, marker="o", label=key
            )
        for ax, label in ((ax1, "requests / s"), (ax2, "p99 latency, ms")):
            ax.set_xscale("log")
            ax.set_xlabel("concurrent keep-alive connections")
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
        ax2.set_yscale("log")
        ax1.legend(fontsize=7)
        ax1.set_title("GET /json")
        fig.tight_layout()
        fig.savefig(data_dir / "concurrency.png", dpi=90)
        plt.close(fig)


def _load_line(report: dict[str, Any]) -> list[str]:
    lines = []
    load = report.get("load1") or {}
    if load:
        cores = report["machine"].get("cores") or 2
        lines.append(
            f"- Machine load (1-minute load average at the start of each timed run): median "
            f"{load['median']:.1f}, min {load['min']:.1f}, max {load['max']:.1f} on {cores} "
            "cores. This counts the suite's own processes too (the 64 PostgreSQL backends of "
            "the database tests are runnable while they work), so it is not a measure of "
            "outside work; the next line is."
        )
    other = report.get("core0_other") or {}
    if other:
        busy = other["max"] > 0.05
        line = (
            "- Other programs on the server's core (user CPU time on core 0 not spent by the "
            f"server, per timed run): median {other['median'] * 100:.1f}% of the core, max "
            f"{other['max'] * 100:.1f}%."
        )
        if busy:
            line += (
                " **Other work shared the core under test in some runs**; the CPU-time "
                "columns are the steadier figures, and the passes are interleaved so that "
                "ratios within a pass stay comparable."
            )
        lines.append(line)
    return lines


def render(report: dict[str, Any]) -> str:
    m, v, s = report["machine"], report["versions"], report["settings"]
    title = "# Benchmarks"
    lines = [title, ""]
    if report["quick"]:
        lines += [
            "> **Quick run** (`--quick`): a single run per figure and short durations, made",
            "> while developing the suite. Spreads are not available and the figures are",
            "> indicative only; the full run (`bench/run`) takes three runs per figure.",
            "",
        ]
    lines += [
        f"Generated by `{report['command']}` on {report['date']}; the run took "
        f"{report['elapsed_s'] / 60:.0f} minutes. Raw data: [benchmarks/results.json](benchmarks/results.json).",
        "",
        "## Carafe's targets",
        "",
        *targets(report),
        "## Method",
        "",
        f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"{m.get('os')}, `{m.get('platform')}`; Python {m.get('python')}; {m.get('wrk')}; {m.get('postgresql')}.",
        "- Each server runs one worker (one process) pinned to core 0 (`taskset -c 0`); wrk runs "
        "on core 1 (`taskset -c 1`) over loopback. PostgreSQL runs on core 1 too, so the core "
        "under test runs only the app.",
        f"- Each figure is the median of {s['runs']} wrk runs of {s['duration_s']:g} s after a "
        f"{s['warmup_s']:g} s warmup (concurrency runs: {s['concurrency_duration_s']:g} s); the spread is "
        "half the min–max range. wrk `--timeout` is "
        f"{s['timeout_s']:g} s. Ratios compare frameworks under the same server in the same run.",
        "- Before any timing each app's answers are checked the way TechEmpower's verifier does "
        "(`bench/tfb.py`): status, `Server` and `Date` headers, `Content-Length`, content type, "
        "exact bodies, `queries` clamped to 1..500, fortunes sorted/escaped/UTF-8 with the "
        "request-time fortune, updates visible in the database. A wrong answer is listed under "
        "failures, never timed.",
        f"- PostgreSQL: a private cluster in a temp dir (fsync and synchronous_commit off; this is a "
        f"framework benchmark, not a disk one), TechEmpower's `world` (10,000 rows) and `fortune` "
        f"tables. Async apps use asyncpg, sync apps psycopg 3; every pool holds at most "
        f"{s['pool_max']} connections.",
        "- `queries` and `updates` use 20 queries per request; `updates` reads each row with its "
        "own SELECT and writes all of them with one `executemany`. Plaintext is not pipelined.",
        f"- The open-file limit was raised to {s['fd_limit']} for the concurrency test. Every "
        f"server listens with a backlog of {s.get('backlog', 4096):,}; the kernel's cap "
        f"(`net.core.somaxconn`) was {s.get('somaxconn', 0):,}. Granian takes the backlog as "
        "its limit on connections served at once, so it must exceed 10,000."
        + (f" Servers, wrk and PostgreSQL ran at nice {s['nice']}." if s.get("nice") else ""),
        "- Server CPU µs/req: user+system CPU time of the server's processes during the "
        "timed run, divided by the requests answered.",
        *_load_line(report),
        "",
        "Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()) + ".",
        "",
        "Server commands (`$PORT` is a free port; run from `bench/`):",
        "",
        "```",
        *[" ".join(cmd) for cmd in report["server_commands"].values()],
        "```",
        "",
        "wrk commands:",
        "",
        "```",
        *[" ".join(cmd) for cmd in report["wrk_commands"].values()],
        "```",
        "",
        "## Overview",
        "",
        *overview(report),
        "## Each test",
        "",
        *detail(report),
        "## In-process: the framework's own cost",
        "",
        *inprocess(report),
        "## Concurrency: GET /json with many keep-alive connections",
        "",
        *concurrency(report),
        "## Import time and memory",
        "",
        "Import time is the wall time to import the app module (framework, drivers and app "
        "construction) in a fresh interpreter. Memory is the resident set of the server's "
        "process tree at the end of its tests.",
        "",
        *resources(report),
        "## Failures (wrong answers or servers that did not run)",
        "",
        *failures(report),
        "",
    ]
    text = "\n".join(lines)
    return text.replace(str(Path(__file__).resolve().parent), "bench")


def write(report: dict[str, Any], out: Path, data_dir: Path) -> None:
    for key, argv in report["server_commands"].items():
        report["server_commands"][key] = [
            "$PORT" if a.isdigit() and i > 0 and argv[i - 1] in ("--port",) else a
            for i, a in enumerate(argv)
        ]
        report["server_commands"][key] = [
            a.replace(str(Path(sys.executable).parent) + "/", ".venv/bin/")
            for a in report["server_commands"][key]
        ]
        report["server_commands"][key] = [
            a.rsplit(":", 1)[0] + ":$PORT" if a.startswith("127.0.0.1:") else a
            for a in report["server_commands"][key]
        ]
    plots(report, data_dir)
    out.write_text(render(report))
    # The production-features section is measured apart (bench/production.py); keep it.
    production = data_dir / "production.json"
    if production.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import production as production_mod

        production_mod.write_doc(out, json.loads(production.read_text()))
    conduit = data_dir / "conduit.json"  # so is the Conduit section (bench/conduit.py)
    if conduit.exists():
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import conduit as conduit_mod

        conduit_mod.write_doc(out, json.loads(conduit.read_text()))


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/benchmarks/results.json")
    data = json.loads(path.read_text())
    write(data, path.parent.parent / "benchmarks.md", path.parent)
