"""The Conduit example's article reads on a real PostgreSQL: Carafe against FastAPI and Flask.

    .venv/bin/python bench/conduit.py                       # 10 s per run, 32 connections
    .venv/bin/python bench/conduit.py --duration 20 --json docs/benchmarks/conduit.json

One run, side by side, on one PostgreSQL (bench/pg.py, pinned with wrk to core 1):

- ``carafe``: the example itself (examples.conduit.app:app) under uvicorn;
- ``fastapi``: FastAPI + SQLAlchemy (asyncpg) under uvicorn, a hand-written session
  dependency and pydantic response models (bench/conduit_apps/fastapi_app.py);
- ``flask``: Flask + Flask-SQLAlchemy (psycopg) under gunicorn, sync and gthread workers
  (bench/conduit_apps/flask_app.py);
- ``floor``: no framework, a raw ASGI app running the same statements in one
  transaction under uvicorn (bench/conduit_apps/floor_app.py): its ratio to a peer is
  the most any framework doing this SQLAlchemy work could show;
- on request (``--apps``): ``carafe-granian`` and ``fastapi-granian``.

Every app runs the same SQLAlchemy statements (``examples.conduit.services`` builds
them) through the same connection pool (``carafe.db.DEFAULT_POOL``: 15 connections a
process, all kept; the peers take it from ``carafe.db.engine_options``) on the same data: the schema made by ``carafe db upgrade`` (the example's
migrations), 40 users, 400 articles with tags, favourites and follows written through
the example's services. Each server is one process pinned to core 0. Before timing,
every app's answers to both endpoints are compared with Carafe's: a different answer is
a failure, not a number. All servers are up at once and the runs alternate between them,
``--rounds`` times, so that a load which comes and goes on a shared machine falls on
every app alike. Reported: the median round's requests/s and latency percentiles from
wrk (every round's requests/s beside it), and Carafe's ratio to each peer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

import servers  # noqa: E402
import wrk  # noqa: E402
from mdsection import replace_section  # noqa: E402
from pg import PASSWORD, USER, Cluster  # noqa: E402

ENDPOINTS = {
    "list": "/api/articles?limit=20&offset=0",
    "list_tag": "/api/articles?tag=tag3&limit=20",
    "single": None,  # /api/articles/{slug}: a slug read from the list once seeded
}

APPS = {
    "carafe": ("uvicorn", "examples.conduit.app:app"),
    "fastapi": ("uvicorn", "bench.conduit_apps.fastapi_app:app"),
    "flask-sync": ("gunicorn-sync", "bench.conduit_apps.flask_app:app"),
    "flask-gthread": ("gunicorn-gthread", "bench.conduit_apps.flask_app:app"),
    # The same statements and views with no framework: what any framework costs at least.
    "floor": ("uvicorn", "bench.conduit_apps.floor_app:app"),
    # Not run by default (--apps): both ASGI apps on granian, the other server
    # `carafe run` offers.
    "carafe-granian": ("granian", "examples.conduit.app:app"),
    "fastapi-granian": ("granian", "bench.conduit_apps.fastapi_app:app"),
}
DEFAULT_APPS = ("carafe", "fastapi", "flask-sync", "flask-gthread", "floor")


SECRET = "bench-only-secret-" + "k" * 32


def seed(url: str, users: int, articles: int) -> None:
    """Write the data set through the example's own services."""
    from examples.conduit import services
    from examples.conduit.app import create_app

    from carafe.testing import TestClient

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET})
    from examples.conduit.app import db

    async def write() -> None:
        async with db.session(app) as session:
            people = [
                await services.register(session, f"user{i}", f"user{i}@example.com", "pw-bench")
                for i in range(users)
            ]
        async with db.session(app) as session:
            for n in range(articles):
                author = await session.merge(people[n % users])
                await services.create_article(
                    session,
                    author,
                    title=f"Article {n}: on benchmarks and their discontents",
                    description=f"What article {n} is about",
                    body="A paragraph of text. " * 40,
                    tags=[f"tag{n % 7}", f"tag{n % 11}", "bench"],
                )
        async with db.session(app) as session:
            for n in range(users):
                fan = await session.merge(people[n])
                for k in range(1, 6):
                    await services.follow(session, fan, f"user{(n + k) % users}")
            page, _ = await services.list_articles(session, None, limit=100)
            for n, found in enumerate(page):
                fan = await session.merge(people[n % users])
                await services.favorite(session, fan, found.slug)

    with TestClient(app) as client:
        client.run(write())


def prepare_database(cluster: Cluster, users: int, articles: int) -> str:
    cluster.psql(f"CREATE DATABASE conduit OWNER {USER}")
    url = f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{cluster.port}/conduit"
    target = f"examples.conduit.app:create_app({{'DATABASE_URL': {url!r}}})"
    import subprocess

    subprocess.run(
        [str(Path(sys.executable).parent / "carafe"), "--app", target, "db", "upgrade"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    seed(url, users, articles)
    # The planner's statistics, as autovacuum would gather them on a live database:
    # without them PostgreSQL guesses at row counts for the freshly written tables.
    cluster.psql("VACUUM (ANALYZE)", db="conduit")
    # The seeding's dirty pages written now, not by a checkpoint during the first runs.
    cluster.psql("CHECKPOINT", db="conduit")
    return url


def in_process(url: str, paths: dict[str, str], rounds: int = 7) -> dict[str, dict[str, float]]:
    """CPU ms per request of the two ASGI apps called in-process (bench/inprocess.py's
    harness), blocks interleaved, the median: steadier than wrk on a shared machine."""
    import statistics
    import time

    from cases import Case
    from inprocess import Lifespan, build_scope, call_once

    os.environ["CONDUIT_DATABASE_URL"] = url
    from bench.conduit_apps.fastapi_app import app as fastapi_app
    from bench.conduit_apps.floor_app import app as floor_app
    from examples.conduit.app import create_app

    apps = {
        "carafe": create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET}),
        "fastapi": fastapi_app,
        "floor": floor_app,
    }

    async def measure() -> dict[str, dict[str, float]]:
        lives = {name: Lifespan(app) for name, app in apps.items()}
        for life in lives.values():
            await life.start()
        figures: dict[str, dict[str, float]] = {}
        try:
            for key, target in paths.items():
                path, _, query = target.partition("?")
                scope = build_scope(Case(key, key, "GET", path, query=query.encode()))
                runs: dict[str, list[float]] = {name: [] for name in apps}
                for _ in range(rounds):
                    for name, app in apps.items():
                        state = lives[name].state
                        for _ in range(10):
                            await call_once(app, scope, b"", state)
                        start = time.process_time()
                        for _ in range(150):
                            got = await call_once(app, scope, b"", state)
                        runs[name].append((time.process_time() - start) / 150 * 1e3)
                        if got.status != 200:
                            raise RuntimeError(f"{name} {target}: {got.status}")
                figures[key] = {name: statistics.median(r) for name, r in runs.items()}
        finally:
            for life in lives.values():
                await life.close()
        return figures

    return asyncio.run(measure())


def fetch(port: int, path: str) -> Any:
    reply = servers.get(port, path)
    if reply.status != 200:
        raise RuntimeError(f"GET {path}: {reply.status} {reply.body[:200]!r}")
    return json.loads(reply.body)


def start_all(names: list[str], env: dict[str, str], log_dir: Path) -> dict[str, Any]:
    """Every app's server, each one process pinned to core 0, all up at once: an idle
    server costs nothing, and the rounds can then alternate between them."""
    running: dict[str, Any] = {}
    try:
        for name in names:
            server, target = APPS[name]
            port = servers.free_port()
            running[name] = servers.start(
                name,
                servers.server_argv(server, target, port),
                port=port,
                cwd=ROOT,
                env=env,
                cpu=0,
                log_dir=log_dir,
                ready_path=ENDPOINTS["list"],
            )
    except BaseException:
        for up in running.values():
            up.stop()
        raise
    return running


def same_answers(running: dict[str, Any]) -> dict[str, str]:
    """The paths timed, once every app has answered them as the first one does."""
    first = next(iter(running.values()))
    paths = dict(ENDPOINTS)
    paths["single"] = f"/api/articles/{fetch(first.port, ENDPOINTS['list'])['articles'][0]['slug']}"
    expected = {key: fetch(first.port, path) for key, path in paths.items()}
    for name, up in running.items():
        for key, path in paths.items():
            if fetch(up.port, path) != expected[key]:
                raise RuntimeError(f"{name} answers {path} differently from the first app")
    return paths


def timed(args: argparse.Namespace, running: dict[str, Any], paths: dict[str, str]) -> dict:
    """``--rounds`` rounds; in each, every endpoint on every app in turn (a 2 s warm-up,
    then ``--duration`` s). Per app and endpoint: the median round's wrk figures and
    every round's requests/s, so that a load that came and went shows."""
    runs: dict[str, dict[str, list[dict[str, Any]]]] = {n: {k: [] for k in paths} for n in running}
    for round_ in range(args.rounds):
        for key, path in paths.items():
            for name, up in running.items():
                page = f"{up.url}{path}"
                wrk.run(page, connections=args.connections, duration=2, timeout=10)  # warm
                cpu = up.cpu_seconds()
                result, _, argv = wrk.run(
                    page, connections=args.connections, duration=args.duration, timeout=10
                )
                # The server's own CPU per request: what its code costs, whether or not
                # the database (sharing core 1 with wrk) held its throughput back.
                cpu_ms = (up.cpu_seconds() - cpu) / max(result.requests, 1) * 1e3
                if result.errors or result.non_2xx:  # reported, never hidden
                    print(f"{name} {path}: errors in wrk's run: {result}", file=sys.stderr)
                runs[name][key].append(
                    result.as_dict() | {"cpu_ms": cpu_ms, "command": " ".join(argv)}
                )
                print(
                    f"round {round_ + 1}  {name:<16}{key:<10}{result.requests_per_s:>8.0f} req/s"
                    f"{cpu_ms:>8.3f} ms CPU",
                    flush=True,
                )
    apps: dict[str, dict[str, Any]] = {}
    for name, by_key in runs.items():
        apps[name] = {}
        for key, rounds in by_key.items():
            ordered = sorted(rounds, key=lambda r: r["requests_per_s"])
            median = ordered[len(ordered) // 2]
            cpu = sorted(r["cpu_ms"] for r in rounds)[len(rounds) // 2]
            apps[name][key] = median | {
                "rounds_rps": [r["requests_per_s"] for r in rounds],
                "cpu_ms_median": cpu,
            }
    return apps


def run(args: argparse.Namespace) -> dict[str, Any]:
    cluster = Cluster.create(servers.free_port(), cpu=1)
    results: dict[str, Any] = {"apps": {}, "settings": vars(args) | {"json": None, "doc": None}}
    log_dir = Path(tempfile.mkdtemp(prefix="carafe-conduit-bench-"))
    try:
        url = prepare_database(cluster, args.users, args.articles)
        env = {"CONDUIT_DATABASE_URL": url, "CARAFE_DATABASE_URL": url}
        env |= {"CARAFE_SECRET_KEY": SECRET}
        running = start_all(args.apps.split(","), env, log_dir)
        try:
            paths = same_answers(running)
            results["paths"] = paths
            results["apps"] = timed(args, running, paths)
        finally:
            for up in running.values():
                up.stop()
        if args.in_process:
            results["in_process_cpu_ms"] = in_process(url, paths)
    finally:
        cluster.stop()
    results["postgres"] = cluster.version
    return results


SECTION = "## Conduit on PostgreSQL: the article reads"


def _ratios(
    apps: dict[str, Any],
    keys: list[str],
    ours: list[str],
    field: str,
    label: str,
    *,
    less_is_more: bool = False,
) -> list[str]:
    """One line per (one of ours, peer): ours over the peer by ``field`` on each key
    (the peer's over ours for a cost, ``less_is_more``)."""
    lines = []
    for mine in ours:
        for peer in (p for p in apps if p not in ours):
            pairs = [(apps[mine][k][field], apps[peer][k][field]) for k in keys]
            ratios = ", ".join(
                f"{k} {(b / a if less_is_more else a / b):.2f}x"
                for k, (a, b) in zip(keys, pairs, strict=True)
            )
            lines.append(label.format(mine=mine, peer=peer) + ratios)
    return lines


def _round_ratios(apps: dict[str, Any], keys: list[str], ours: list[str]) -> list[str]:
    """Ours over each peer round by round (the two runs minutes apart at most), the
    median and the range: a load that came and went moves both sides of a round."""
    lines = []
    for mine in ours:
        for peer in (p for p in apps if p not in ours):
            cells = []
            for k in keys:
                pairs = zip(apps[mine][k]["rounds_rps"], apps[peer][k]["rounds_rps"], strict=True)
                ratios = sorted(a / b for a, b in pairs)
                median = ratios[len(ratios) // 2]
                cells.append(f"{k} {median:.2f}x ({ratios[0]:.2f}-{ratios[-1]:.2f})")
            lines.append(f"- round by round, {mine} / {peer}, median (range): " + ", ".join(cells))
    return lines


def report(results: dict[str, Any]) -> str:
    apps = results["apps"]
    keys = list(next(iter(apps.values())))
    lines = ["| app | " + " | ".join(f"{k} req/s" for k in keys) + " |"]
    lines.append("|---|" + "---|" * len(keys))
    for name, figures in apps.items():
        cells = " | ".join(
            f"{figures[k]['requests_per_s']:.0f} "
            f"({', '.join(f'{r:.0f}' for r in figures[k].get('rounds_rps', []))})"
            for k in keys
        )
        lines.append(f"| {name} | {cells} |")
    # The floor's own ratio to a peer is the most any framework running these
    # statements could show against it.
    ours = [name for name in apps if name.startswith("carafe") or name == "floor"]
    if ours:
        lines.append("")
    lines += _ratios(apps, keys, ours, "requests_per_s", "- {mine} / {peer}: ")
    lines += _round_ratios(apps, keys, ours)
    if all("cpu_ms_median" in figures[k] for figures in apps.values() for k in keys):
        lines += ["", "| app | " + " | ".join(f"{k} server CPU ms" for k in keys) + " |"]
        lines.append("|---|" + "---|" * len(keys))
        for name, figures in apps.items():
            cells = " | ".join(f"{figures[k]['cpu_ms_median']:.3f}" for k in keys)
            lines.append(f"| {name} | {cells} |")
        lines.append("")
        label = "- by server CPU per request, {mine} / {peer}: "
        lines += _ratios(apps, keys, ours, "cpu_ms_median", label, less_is_more=True)
    for key, by_app in results.get("in_process_cpu_ms", {}).items():
        ratio = by_app["fastapi"] / by_app["carafe"]
        floor = by_app.get("floor")
        best = f"; floor {floor:.3f} ms, {by_app['fastapi'] / floor:.2f}x" if floor else ""
        lines.append(
            f"- in process, CPU per request, {key}: carafe {by_app['carafe']:.3f} ms, "
            f"fastapi {by_app['fastapi']:.3f} ms ({ratio:.2f}x){best}"
        )
    return "\n".join(lines)


def section(results: dict[str, Any]) -> str:
    """The Markdown section docs/benchmarks.md shows for a run."""
    s = results["settings"]
    load = results.get("load", {})
    paths = results.get("paths", {})
    lines = [
        SECTION,
        "",
        "The Conduit example's article list and single article (`bench/conduit.py`), on "
        f"{results['postgres']}, each app one process pinned to core 0, PostgreSQL and "
        f"wrk on core 1; {s['connections']} connections, {s['rounds']} rounds of "
        f"{s['duration']:g} s alternating between the apps, {s['users']} users and "
        f"{s['articles']} articles. Every app runs the same statements "
        "(`examples/conduit/services.py`) through the same pool (`carafe.db.DEFAULT_POOL`: "
        "15 connections, all kept) and gave the same answers before timing.",
        "",
        "Paths: " + ", ".join(f"{k} `{v}`" for k, v in paths.items()) + ".",
        "Each cell of the first table: the median round's requests/s (every round in "
        "brackets). The second: the server's own CPU time per request in those runs "
        "(the median round), which does not depend on whether PostgreSQL, sharing core 1 "
        "with wrk, held the throughput back.",
        "",
        report(results),
        "",
    ]
    if load:
        lines += [
            f"Load average (1 min) before the runs: {load['before']:.2f} "
            f"({os.cpu_count()} cores). During them the benchmark's own PostgreSQL "
            f"backends, one per wrk connection, raise it (to {load['after']:.2f} at the end).",
            "",
        ]
    lines += [
        "Run it: `.venv/bin/python bench/conduit.py --in-process --json "
        "docs/benchmarks/conduit.json --doc docs/benchmarks.md`.",
        "",
    ]
    return "\n".join(lines)


def write_doc(doc: Path, results: dict[str, Any]) -> None:
    """Put the section in ``doc``, in place of an older one (bench/mdsection.py)."""
    replace_section(doc, SECTION, section(results))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32, help="wrk's connections")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, apps alternating")
    parser.add_argument("--apps", default=",".join(DEFAULT_APPS), help=f"of: {','.join(APPS)}")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--articles", type=int, default=400)
    parser.add_argument("--json", type=Path, help="write the results here too")
    parser.add_argument("--doc", type=Path, help="write the section into this Markdown file")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="also time carafe, fastapi and the floor in-process (CPU ms per request)",
    )
    args = parser.parse_args()
    if not wrk.available():
        raise SystemExit("wrk is not installed (Debian: apt-get install -y wrk)")
    os.environ.setdefault("PYTHONHASHSEED", "0")
    before = os.getloadavg()[0]
    results = run(args)
    results["load"] = {"before": before, "after": os.getloadavg()[0]}
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if args.doc:
        write_doc(args.doc, results)


if __name__ == "__main__":
    main()
