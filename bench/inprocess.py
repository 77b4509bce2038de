"""In-process benchmark: each app called directly as an ASGI callable, no server.

    .venv/bin/python bench/inprocess.py                 # all apps, all cases
    .venv/bin/python bench/inprocess.py --cases json,path_query,post_model --json out.json

For every app: run its lifespan startup, check each case's response (status,
content-type, content-length, body) and only then time it. A wrong answer is reported
as a failure, never as a number. Timing: one event loop (uvloop when installed), many
calls in a loop per block, blocks repeated (apps interleaved so drift hits all alike),
the median block reported in microseconds per request. The clock is the process's CPU
time (``--clock cpu``, the default), so other work on a shared machine does not stretch
the figures the way it stretches wall time; ``--clock wall`` measures elapsed time.

The figure includes the harness: building the scope dict, the receive/send callables.
The ``(harness)`` column is that cost alone, measured with an ASGI app that sends a
fixed response; it is the same for every app.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import importlib
import importlib.metadata
import json
import platform
import statistics
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

from cases import CASES, CORE_CASES, Case  # noqa: E402

from apps import APPS  # noqa: E402

DISCONNECT = {"type": "http.disconnect"}


# ---------------------------------------------------------------------------- ASGI plumbing


class Receive:
    """Hands out the request body once, then ``http.disconnect``."""

    __slots__ = ("message",)

    def __init__(self, message: dict[str, Any]) -> None:
        self.message: dict[str, Any] | None = message

    async def __call__(self) -> dict[str, Any]:
        message = self.message
        if message is None:
            return DISCONNECT
        self.message = None
        return message


async def discard(message: dict[str, Any]) -> None:
    return None


class Collect:
    """A ``send`` that keeps the response for checking."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.complete = False
        self.errors: list[str] = []

    async def __call__(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            if self.status is not None:
                self.errors.append("http.response.start sent twice")
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif kind == "http.response.body":
            if self.complete:
                self.errors.append("body sent after the response was complete")
            self.body.append(message.get("body", b""))
            self.complete = not message.get("more_body", False)


def build_scope(case: Case) -> dict[str, Any]:
    headers = [(b"host", b"testserver"), (b"user-agent", b"carafe-bench"), *case.headers]
    if case.body:
        headers.append((b"content-length", str(len(case.body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": case.method,
        "scheme": "http",
        "path": case.path,
        "raw_path": case.path.encode(),
        "query_string": case.query,
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


class Lifespan:
    """Runs an app's lifespan startup, keeps it open, shuts it down on ``close``."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.state: dict[str, Any] = {}
        self.supported = True
        self._to_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._from_app: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        scope = {
            "type": "lifespan",
            "asgi": {"version": "3.0", "spec_version": "2.0"},
            "state": self.state,
        }
        self._task = asyncio.create_task(self.app(scope, self._to_app.get, self._from_app.put))
        await self._to_app.put({"type": "lifespan.startup"})
        got = asyncio.create_task(self._from_app.get())
        done, _ = await asyncio.wait({got, self._task}, return_when=asyncio.FIRST_COMPLETED)
        if got not in done:
            got.cancel()
            exc = self._task.exception()
            # An app that raises on a lifespan scope does not support lifespan (ASGI spec).
            self.supported = False
            if exc is not None:
                self.note = f"lifespan not supported: {exc!r}"
            return
        message = got.result()
        if message["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"lifespan startup failed: {message}")

    async def close(self) -> None:
        if self._task is None or self._task.done():
            return
        await self._to_app.put({"type": "lifespan.shutdown"})
        try:
            await asyncio.wait_for(self._from_app.get(), 5)
        finally:
            self._task.cancel()


# ---------------------------------------------------------------------------- measuring


async def call_once(app: Any, scope: dict[str, Any], body: bytes, state: dict) -> Collect:
    collect = Collect()
    request = dict(scope, state=state.copy())
    await app(request, Receive({"type": "http.request", "body": body, "more_body": False}), collect)
    return collect


async def verify(app: Any, case: Case, state: dict) -> str | None:
    """None when the app answers ``case`` right (twice: the first call may warm up)."""
    scope = build_scope(case)
    for _ in range(2):
        try:
            got = await call_once(app, scope, case.body, state)
        except Exception as exc:
            return f"raised {exc!r}\n{traceback.format_exc(limit=4)}"
        if got.errors:
            return "; ".join(got.errors)
        if got.status is None or not got.complete:
            return "no complete response was sent"
        problem = case.check(got.status, got.headers, b"".join(got.body))
        if problem:
            return problem
    return None


#: The clock blocks are timed with: the process's CPU time by default, which other work
#: on a shared machine barely moves (wall time is stretched by every preemption).
CLOCK = {"cpu": time.process_time, "wall": time.perf_counter}
clock = time.process_time


async def time_block(app: Any, case: Case, state: dict, n: int) -> float:
    """Seconds per request over ``n`` calls."""
    scope = build_scope(case)
    message = {"type": "http.request", "body": case.body, "more_body": False}
    gc.collect()
    start = clock()
    for _ in range(n):
        await app(dict(scope, state=state.copy()), Receive(message), discard)
    return (clock() - start) / n


async def calibrate(app: Any, case: Case, state: dict, target: float) -> int:
    n = 50
    while True:
        per = await time_block(app, case, state, n)
        if per * n >= target / 4 or n >= 1_000_000:
            return max(50, int(target / per))
        n *= 4


async def harness_app(scope: dict, receive: Any, send: Any) -> None:
    """The cost of the harness alone: read the body, send a fixed response."""
    await receive()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"{}"})


# ---------------------------------------------------------------------------- results


@dataclass
class Cell:
    status: str  # ok | failed | pending | n/a | unavailable
    note: str = ""
    runs: list[float] = field(default_factory=list)  # microseconds per request
    iterations: int = 0

    @property
    def median(self) -> float | None:
        return statistics.median(self.runs) if self.runs else None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status}
        if self.note:
            d["note"] = self.note
        if self.runs:
            d.update(
                median_us=round(self.median or 0, 3),
                min_us=round(min(self.runs), 3),
                max_us=round(max(self.runs), 3),
                runs_us=[round(r, 3) for r in self.runs],
                iterations=self.iterations,
            )
        return d


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("carafe", "msgspec", "fastapi", "pydantic", "starlette", "litestar", "uvloop"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


def load_apps(names: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    modules, unavailable = {}, {}
    for name in names:
        try:
            modules[name] = importlib.import_module(APPS[name])
        except Exception as exc:
            unavailable[name] = f"import failed: {exc!r}"
    return modules, unavailable


async def run(args: argparse.Namespace) -> dict[str, Any]:
    names = args.apps.split(",") if args.apps else list(APPS)
    case_names = args.cases.split(",") if args.cases else list(CASES)
    modules, unavailable = load_apps(names)
    results: dict[str, dict[str, Cell]] = {n: {} for n in names}
    for name, why in unavailable.items():
        for c in case_names:
            results[name][c] = Cell("unavailable", why)

    # Start every lifespan, then check every (app, case) before any timing.
    lifespans: dict[tuple[str, int], Lifespan] = {}
    plan: list[tuple[str, str, Any, dict]] = []  # (app, case, asgi app, state)
    for name, mod in modules.items():
        for c in case_names:
            if c in getattr(mod, "PENDING", {}):
                results[name][c] = Cell("pending", mod.PENDING[c])
                continue
            if c not in mod.SUPPORTED:
                results[name][c] = Cell("n/a", "not written for this framework")
                continue
            asgi = getattr(mod, "CASE_APPS", {}).get(c, mod.app)
            key = (name, id(asgi))
            if key not in lifespans:
                lifespans[key] = Lifespan(asgi)
                try:
                    await lifespans[key].start()
                except Exception as exc:
                    results[name][c] = Cell("failed", f"lifespan startup: {exc!r}")
                    continue
            problem = await verify(asgi, CASES[c], lifespans[key].state)
            if problem:
                results[name][c] = Cell("failed", problem)
                print(f"FAILED {name} {c}: {problem}", file=sys.stderr)
                continue
            results[name][c] = Cell("ok")
            plan.append((name, c, asgi, lifespans[key].state))

    harness = {c: Cell("ok") for c in case_names}
    iterations: dict[tuple[str, str], int] = {}
    for name, c, asgi, state in plan:
        iterations[(name, c)] = await calibrate(asgi, CASES[c], state, args.block)
    for c in case_names:
        iterations[("(harness)", c)] = await calibrate(harness_app, CASES[c], {}, args.block)

    for rep in range(args.repeat):
        print(f"run {rep + 1}/{args.repeat}", file=sys.stderr)
        for name, c, asgi, state in plan:
            n = iterations[(name, c)]
            per = await time_block(asgi, CASES[c], state, n)
            results[name][c].runs.append(per * 1e6)
            results[name][c].iterations = n
        for c in case_names:
            n = iterations[("(harness)", c)]
            harness[c].runs.append(await time_block(harness_app, CASES[c], {}, n) * 1e6)
            harness[c].iterations = n

    for ls in lifespans.values():
        await ls.close()

    return {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpus": _cpu_model(),
        },
        "versions": versions(),
        "event_loop": args.loop_name,
        "clock": args.clock,
        "load1_before_after": [args.load_before, Path("/proc/loadavg").read_text().split()[0]],
        "repeat": args.repeat,
        "block_seconds": args.block,
        "cases": {c: CASES[c].title for c in case_names},
        "harness": {c: harness[c].as_dict() for c in case_names},
        "results": {
            n: {c: cell.as_dict() for c, cell in cells.items()} for n, cells in results.items()
        },
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


# ---------------------------------------------------------------------------- report


def _fmt_cell(d: dict[str, Any]) -> str:
    if d["status"] != "ok":
        return d["status"]
    return f"{d['median_us']:.2f}"


def _spread(d: dict[str, Any]) -> str:
    if d["status"] != "ok":
        return ""
    med = d["median_us"]
    return f"±{(d['max_us'] - d['min_us']) / 2 / med * 100:.0f}%"


def render(report: dict[str, Any]) -> str:
    results = report["results"]
    names = list(results)
    cases = list(report["cases"])
    lines = []
    v = report["versions"]
    lines.append(
        "Python {python}, loop {loop}, {repeat} runs x ~{block}s blocks, median; {clock} clock; "
        "CPU: {cpu}; load average before/after: {load}".format(
            python=v["python"],
            loop=report["event_loop"],
            repeat=report["repeat"],
            block=report["block_seconds"],
            cpu=report["machine"]["cpus"],
            clock=report["clock"],
            load="/".join(report["load1_before_after"]),
        )
    )
    lines.append(", ".join(f"{k} {val}" for k, val in v.items() if k != "python"))
    lines.append("")
    lines.append("microseconds per request (lower is better; ± is half the min-max spread)")
    width = 12
    head = f"{'case':<12}" + "".join(f"{n:>{width}}" for n in [*names, "(harness)"])
    lines.append(head)
    for c in cases:
        row = f"{c:<12}"
        for n in names:
            row += f"{_fmt_cell(results[n][c]):>{width}}"
        row += f"{_fmt_cell(report['harness'][c]):>{width}}"
        lines.append(row)
        row = f"{'':<12}"
        for n in names:
            row += f"{_spread(results[n][c]):>{width}}"
        lines.append(row)

    if "raw" in results:
        lines.append("")
        lines.append("time relative to the raw ASGI floor (1.00 = as fast as the floor)")
        lines.append(f"{'case':<12}" + "".join(f"{n:>{width}}" for n in names))
        for c in cases:
            floor = results["raw"][c]
            row = f"{c:<12}"
            for n in names:
                d = results[n][c]
                if d["status"] == "ok" and floor["status"] == "ok":
                    row += f"{d['median_us'] / floor['median_us']:>{width}.2f}"
                else:
                    row += f"{'-':>{width}}"
            lines.append(row)
    if "carafe" in results:
        peers = [n for n in names if n != "carafe"]
        lines.append("")
        lines.append("Carafe speed-up over each peer (peer time / Carafe time; >1 = Carafe faster)")
        lines.append(f"{'case':<12}" + "".join(f"{n:>{width}}" for n in peers))
        for c in cases:
            mine = results["carafe"][c]
            row = f"{c:<12}"
            for n in peers:
                d = results[n][c]
                if d["status"] == "ok" and mine["status"] == "ok":
                    row += f"{d['median_us'] / mine['median_us']:>{width}.2f}"
                else:
                    row += f"{'-':>{width}}"
            lines.append(row)
    notes = [
        f"  {n} / {c}: {d['status']}: {d.get('note', '').splitlines()[0] if d.get('note') else ''}"
        for n in names
        for c in cases
        if d_is_notable(d := results[n][c])
    ]
    if notes:
        lines.append("")
        lines.append("not timed:")
        lines.extend(notes)
    return "\n".join(lines)


def d_is_notable(d: dict[str, Any]) -> bool:
    return d["status"] in ("failed", "pending", "unavailable")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--apps", help=f"comma-separated, from: {','.join(APPS)}")
    parser.add_argument("--cases", help=f"comma-separated, from: {','.join(CASES)}")
    parser.add_argument("--core", action="store_true", help=f"only {','.join(CORE_CASES)}")
    parser.add_argument("--repeat", type=int, default=5, help="timed blocks per cell (5)")
    parser.add_argument("--block", type=float, default=0.25, help="seconds per block (0.25)")
    parser.add_argument("--no-uvloop", action="store_true", help="use asyncio's default loop")
    parser.add_argument(
        "--clock", choices=CLOCK, default="cpu",
        help="cpu: process CPU time (default, steady on a shared machine); wall: elapsed time",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)
    global clock
    clock = CLOCK[args.clock]
    args.load_before = Path("/proc/loadavg").read_text().split()[0]
    if args.core:
        args.cases = ",".join(CORE_CASES)

    runner_factory = None
    args.loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop

            runner_factory = uvloop.new_event_loop
            args.loop_name = f"uvloop {importlib.metadata.version('uvloop')}"
        except ImportError:
            pass
    with asyncio.Runner(loop_factory=runner_factory) as runner:
        report = runner.run(run(args))
    print(render(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    failed = any(
        d["status"] == "failed" for cells in report["results"].values() for d in cells.values()
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
