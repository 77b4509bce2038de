"""Soak the two-host cluster (``tests/cluster.py``) and watch every worker's memory.

    sudo .venv/bin/python bench/soak.py                     # 600 s, 100 requests/s
    sudo .venv/bin/python bench/soak.py --duration 60 --rate 50 --json soak.json

Starts the cluster (two network-namespace hosts, ``carafe run APP --workers 2`` on each,
HAProxy, one Redis), then drives it through HAProxy with httpx at a steady rate for
``--duration`` seconds: visitors who log in once and then read and write their session
(``/me``), read cached pages (``/news``), a personal page the cache must not share
(``/dashboard``), a rate-limited page (``/limited``: its 429s are expected) and publish
messages to a room that two event-stream subscribers read. Every ``--interval`` seconds
it samples the RSS of every serving process. At the end it prints, per worker, the RSS
at the start and the end and the mean of the first and the last minute, and says whether
memory is flat: the last minute's mean within ``--tolerance`` MiB of the first's.

``--app module:app --path /a --path /b`` soaks another app with plain GETs instead;
``--conduit`` soaks the Conduit example (its PostgreSQL on the bridge, as
tests/test_conduit_cluster.py runs it) with the mix of bench/soak_conduit.py.
Needs root, ``ip``, ``haproxy`` and ``redis-server`` (``scripts/system-deps``). Not part
of the test suite: it takes as long as it is told to.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import soak_conduit
from tests.cluster import Cluster, missing, rss_kib

CONDUIT = "examples.conduit.app:app"

MIB = 1024.0


class Tally:
    """What the visitors saw: answers by kind and status, errors by kind."""

    def __init__(self) -> None:
        self.answers: collections.Counter[tuple[str, int]] = collections.Counter()
        self.errors: collections.Counter[str] = collections.Counter()
        self.wrong: list[str] = []  # an answer that was not the visitor's own
        self.published = 0
        self.received = 0

    @property
    def requests(self) -> int:
        return sum(self.answers.values()) + sum(self.errors.values())

    def unexpected(self, expected: dict[str, set[int]] | None = None) -> int:
        """Answers that are failures: not 200 (or not one of ``expected[kind]``), except
        a 429 from the rate-limited page."""
        return sum(
            count
            for (kind, status), count in self.answers.items()
            if status not in (expected or {}).get(kind, {200})
            and not (kind == "limited" and status == 429)
        )


async def visitor(number: int, url: str, pace: float, until: float, tally: Tally) -> None:
    """One visitor of the cluster app: logs in, then a request every ``pace`` seconds."""
    name = f"user{number}"
    async with httpx.AsyncClient(base_url=url, timeout=30) as web:
        try:
            await web.post("/login", json={"name": name})
        except httpx.HTTPError as exc:
            tally.errors[type(exc).__name__] += 1
        stranger = httpx.AsyncClient(base_url=url, timeout=30)  # no cookies: cacheable
        try:
            while time.monotonic() < until:
                started = time.monotonic()
                kind = random.choices(
                    ["me", "news", "dashboard", "limited", "publish"], [4, 3, 2, 1, 1]
                )[0]
                try:
                    if kind == "me":
                        answer = await web.get("/me")
                        if answer.status_code == 200 and answer.json()["user"] != name:
                            tally.wrong.append(answer.text)
                    elif kind == "news":
                        edition = f"e{random.randrange(10)}"
                        answer = await stranger.get("/news", params={"edition": edition})
                    elif kind == "dashboard":
                        answer = await web.get("/dashboard")
                        if answer.status_code == 200 and answer.json()["hello"] != name:
                            tally.wrong.append(answer.text)
                    elif kind == "limited":
                        answer = await web.get("/limited", params={"bucket": name})
                    else:
                        answer = await web.post("/rooms/soak", json={"by": name})
                        tally.published += answer.status_code == 200
                    tally.answers[(kind, answer.status_code)] += 1
                except httpx.HTTPError as exc:
                    tally.errors[type(exc).__name__] += 1
                await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))
        finally:
            await stranger.aclose()


async def getter(paths: list[str], url: str, pace: float, until: float, tally: Tally) -> None:
    """A visitor of any app: GETs ``paths`` in turn, one every ``pace`` seconds."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as web:
        turn = 0
        while time.monotonic() < until:
            started = time.monotonic()
            path = paths[turn % len(paths)]
            turn += 1
            try:
                answer = await web.get(path)
                tally.answers[(path, answer.status_code)] += 1
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))


async def subscriber(
    url: str, until: float, tally: Tally, path: str = "/rooms/soak/events", event: str = "message"
) -> None:
    """Reads an event stream until the end, counting its ``event`` events; reconnects if
    it is cut."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as web:
        while time.monotonic() < until:
            try:
                async with web.stream("GET", path) as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith(f"event: {event}"):
                            tally.received += 1
                        if time.monotonic() >= until:
                            return
            except httpx.HTTPError as exc:
                tally.errors["subscriber " + type(exc).__name__] += 1
                await asyncio.sleep(1)


async def sampler(
    cluster: Cluster, interval: float, until: float, samples: dict[str, list[tuple[float, int]]]
) -> None:
    """Every ``interval`` seconds, the RSS (KiB) of every serving process."""
    start = time.monotonic()
    while True:
        now = time.monotonic() - start
        for host, pids in cluster.worker_pids().items():
            for pid in pids:
                rss = rss_kib(pid)
                if rss is not None:
                    samples.setdefault(f"{host}/{pid}", []).append((now, rss))
        if time.monotonic() + interval > until + 1:
            return
        await asyncio.sleep(interval)


def mean(values: list[int]) -> float:
    return sum(values) / len(values) if values else float("nan")


def memory_report(
    samples: dict[str, list[tuple[float, int]]], duration: float, tolerance: float
) -> list[dict[str, Any]]:
    """Per worker: RSS first and last, and the means of the first and the last minute."""
    rows = []
    for worker, series in sorted(samples.items()):
        end = series[-1][0]
        first = [rss for t, rss in series if t <= min(60.0, duration / 2)]
        last = [rss for t, rss in series if t >= end - min(60.0, duration / 2)]
        growth = (mean(last) - mean(first)) / MIB
        rows.append(
            {
                "worker": worker,
                "samples": len(series),
                "start_mib": round(series[0][1] / MIB, 1),
                "end_mib": round(series[-1][1] / MIB, 1),
                "first_minute_mean_mib": round(mean(first) / MIB, 1),
                "last_minute_mean_mib": round(mean(last) / MIB, 1),
                "growth_mib": round(growth, 1),
                "flat": growth <= tolerance,
                "series_mib": [round(rss / MIB, 1) for _, rss in series],
            }
        )
    return rows


async def soak(args: argparse.Namespace, cluster: Cluster) -> dict[str, Any]:
    tally = Tally()
    samples: dict[str, list[tuple[float, int]]] = {}
    started = time.monotonic()
    until = started + args.duration
    pace = args.visitors / args.rate
    expected = None
    if args.conduit:
        slugs: list[str] = []
        expected = soak_conduit.EXPECTED
        load = [
            soak_conduit.visitor(n, cluster.url, pace, until, tally, slugs)
            for n in range(args.visitors)
        ]
        load += [
            soak_conduit.subscriber(cluster.url, until, tally, slugs, subscriber) for _ in range(2)
        ]
    elif args.path:
        load = [getter(args.path, cluster.url, pace, until, tally) for _ in range(args.visitors)]
    else:
        load = [visitor(n, cluster.url, pace, until, tally) for n in range(args.visitors)]
        load += [subscriber(cluster.url, until, tally) for _ in range(2)]
    await asyncio.gather(sampler(cluster, args.interval, until, samples), *load)
    elapsed = time.monotonic() - started
    memory = memory_report(samples, elapsed, args.tolerance)
    return {
        "app": CONDUIT if args.conduit else args.app,
        "duration_s": round(elapsed, 1),
        "target_rate": args.rate,
        "requests": tally.requests,
        "rate": round(tally.requests / elapsed, 1),
        "answers": {f"{k} {s}": n for (k, s), n in sorted(tally.answers.items())},
        "unexpected_answers": tally.unexpected(expected),
        "errors": dict(tally.errors),
        "wrong_user": len(tally.wrong),
        "published": tally.published,
        "received_by_2_subscribers": tally.received,
        "memory": memory,
        "memory_flat": all(row["flat"] for row in memory),
    }


def show(result: dict[str, Any]) -> str:
    lines = [
        f"{result['app']}: {result['requests']} requests in {result['duration_s']} s "
        f"({result['rate']}/s; target {result['target_rate']}/s)",
        "answers: " + ", ".join(f"{k}: {n}" for k, n in result["answers"].items()),
        f"unexpected answers: {result['unexpected_answers']}, errors: {result['errors'] or 0}, "
        f"another user's answer: {result['wrong_user']}",
        f"published: {result['published']}, received by 2 subscribers: "
        f"{result['received_by_2_subscribers']}",
        "",
        "worker        start  end    first-min  last-min  growth (RSS, MiB)",
    ]
    for row in result["memory"]:
        lines.append(
            f"{row['worker']:<13} {row['start_mib']:<6} {row['end_mib']:<6} "
            f"{row['first_minute_mean_mib']:<10} {row['last_minute_mean_mib']:<9} "
            f"{row['growth_mib']:+}{'' if row['flat'] else '  NOT FLAT'}"
        )
    lines.append(f"memory flat: {'yes' if result['memory_flat'] else 'no'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Soak the two-host Carafe cluster and watch every worker's memory.",
        epilog="Needs root, ip, haproxy and redis-server (scripts/system-deps).",
    )
    parser.add_argument("--duration", type=float, default=600, help="seconds (600)")
    parser.add_argument("--rate", type=float, default=100, help="requests per second (100)")
    parser.add_argument("--visitors", type=int, default=20, help="concurrent visitors (20)")
    parser.add_argument("--interval", type=float, default=10, help="RSS sample period, s (10)")
    parser.add_argument("--tolerance", type=float, default=5.0, help="MiB of growth still flat (5)")
    parser.add_argument("--app", default="tests.apps.cluster_app:app", help="module:app")
    parser.add_argument("--health", default="/healthz", help="the health-check path")
    parser.add_argument(
        "--path", action="append", help="GET these paths (another app) instead of the mix"
    )
    parser.add_argument(
        "--conduit",
        action="store_true",
        help="soak Conduit (PostgreSQL on the bridge) with its mix (bench/soak_conduit.py)",
    )
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args(argv)
    lacks = missing()
    if lacks:
        parser.error("; ".join(lacks))
    if args.app != "tests.apps.cluster_app:app" and not args.path:
        parser.error("another --app needs --path: the built-in mix is the cluster app's")
    if args.conduit:
        from tests.test_conduit_cluster import ConduitCluster

        serving: Cluster = ConduitCluster()
    else:
        serving = Cluster(args.app, health=args.health)
    with serving as cluster:
        result = asyncio.run(soak(args, cluster))
    print(show(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    flat = result["memory_flat"]
    return 0 if flat and not result["unexpected_answers"] and not result["wrong_user"] else 1


if __name__ == "__main__":
    sys.exit(main())
