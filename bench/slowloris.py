"""Slow clients against a real ``carafe run``: how many connections does the server keep?

    .venv/bin/python bench/slowloris.py                        # both servers, every phase
    .venv/bin/python bench/slowloris.py --servers uvicorn --phases head \\
        --connections 300 --interval 5 --duration 30 -- --header-timeout 10

Each connection opens, then trickles one byte every ``--interval`` seconds:

  idle  nothing at all: the connection is opened and left
  head  ``GET / HTTP/1.1``, ``Host``, then a header line that never ends (slowloris)
  body  a complete ``POST /items`` head with ``Content-Length: 100``, then the body

After ``--duration`` seconds the script counts the connections the server still holds
open (no EOF, no reset), the ones it closed and what they were told first (``408``,
nothing), and how long a normal ``GET /`` on a fresh connection took meanwhile. The
server is ``carafe run examples.demo:app`` pinned to core 0; the arguments after ``--``
go to ``carafe run``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
if str(BENCH) not in sys.path:
    sys.path.insert(0, str(BENCH))

import servers  # noqa: E402

HEADS = {
    "idle": (b"", b""),
    "head": (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", b"a"),
    "body": (
        b"POST /items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        b"Content-Length: 100\r\n\r\n",
        b" ",
    ),
}


@dataclass
class Outcome:
    """What the slow connections saw, ``duration`` seconds after they opened."""

    opened: int = 0
    refused: int = 0  # the connect itself failed
    closed_after: list[float] = field(default_factory=list)  # seconds, per closed one
    first_line: collections.Counter[str] = field(default_factory=collections.Counter)
    probe_ms: list[float] = field(default_factory=list)  # GET / meanwhile
    probe_failed: int = 0

    @property
    def still_open(self) -> int:
        return self.opened - len(self.closed_after)


async def slow_client(
    port: int, phase: str, interval: float, stop: asyncio.Event, out: Outcome
) -> None:
    head, trickle = HEADS[phase]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        out.refused += 1
        return
    out.opened += 1
    started = time.monotonic()

    async def send() -> None:
        writer.write(head)
        while trickle:
            await writer.drain()
            await asyncio.sleep(interval)
            writer.write(trickle)
        await asyncio.Event().wait()  # idle: send nothing, ever

    sender = asyncio.create_task(send())
    reading = asyncio.create_task(reader.read(65536))
    waiting = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({reading, sender, waiting}, return_when=asyncio.FIRST_COMPLETED)
        if not waiting.done():  # the server answered, closed or reset the connection
            data = reading.result() if reading.done() and not reading.exception() else b""
            line = data.split(b"\r\n", 1)[0].decode("latin-1")
            out.first_line[" ".join(line.split()[:2]) or "closed, nothing sent"] += 1
            if data:  # an answer: the connection counts as closed once it ends
                ended = asyncio.create_task(_until_eof(reader))
                await asyncio.wait({ended, waiting}, return_when=asyncio.FIRST_COMPLETED)
                ended.cancel()
            if not stop.is_set():
                out.closed_after.append(time.monotonic() - started)
    except (OSError, asyncio.IncompleteReadError):
        if not stop.is_set():
            out.closed_after.append(time.monotonic() - started)
            out.first_line["reset"] += 1
    finally:
        for task in (sender, reading, waiting):
            task.cancel()
        writer.close()


async def _until_eof(reader: asyncio.StreamReader) -> None:
    while await reader.read(65536):
        pass


async def probe(port: int, stop: asyncio.Event, out: Outcome) -> None:
    """A normal ``GET /`` on a fresh connection every second while the attack runs."""
    while not stop.is_set():
        started = time.monotonic()
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port), timeout=5
            )
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            data = await asyncio.wait_for(reader.read(), timeout=5)
            writer.close()
            if data.startswith(b"HTTP/1.1 200"):
                out.probe_ms.append((time.monotonic() - started) * 1000)
            else:
                out.probe_failed += 1
        except (OSError, TimeoutError):
            out.probe_failed += 1
        await asyncio.sleep(1)


async def attack(port: int, phase: str, n: int, interval: float, duration: float) -> Outcome:
    out = Outcome()
    stop = asyncio.Event()
    clients = [asyncio.create_task(slow_client(port, phase, interval, stop, out)) for _ in range(n)]
    prober = asyncio.create_task(probe(port, stop, out))
    await asyncio.sleep(duration)
    stop.set()
    await asyncio.gather(*clients, prober, return_exceptions=True)
    return out


def run_one(server: str, phase: str, args: argparse.Namespace, log_dir: Path) -> Outcome:
    port = servers.free_port()
    argv = [
        *servers.server_argv("carafe", "examples.demo:app", port),
        "--server", server, *args.carafe_args,
    ]  # fmt: skip
    running = servers.start(f"{server}-{phase}", argv, port=port, cwd=ROOT, log_dir=log_dir)
    try:
        return asyncio.run(attack(port, phase, args.connections, args.interval, args.duration))
    finally:
        running.stop()


def report(server: str, phase: str, out: Outcome, args: argparse.Namespace) -> None:
    closed = sorted(out.closed_after)
    when = (
        f"closed after {closed[0]:.1f}-{closed[-1]:.1f} s (median {statistics.median(closed):.1f})"
        if closed
        else "none closed"
    )
    seen = ", ".join(f"{k}: {v}" for k, v in out.first_line.most_common())
    probes = (
        f"GET / meanwhile: median {statistics.median(out.probe_ms):.1f} ms, "
        f"max {max(out.probe_ms):.1f} ms, {out.probe_failed} failed"
        if out.probe_ms
        else f"GET / meanwhile: all {out.probe_failed} failed"
    )
    print(
        f"{server:8} {phase:5} {out.still_open:4}/{out.opened} still open after "
        f"{args.duration:g} s ({out.refused} refused); {when}; first reply: {seen or '-'}; "
        f"{probes}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", nargs="+", default=["uvicorn", "granian"])
    parser.add_argument(
        "--phases", nargs="+", choices=sorted(HEADS), default=["idle", "head", "body"]
    )
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between bytes")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds before the count")
    parser.add_argument("carafe_args", nargs="*", help="after --: more carafe run options")
    args = parser.parse_args()
    print(
        f"{args.connections} connections, a byte every {args.interval:g} s, counted after "
        f"{args.duration:g} s; carafe run {' '.join(args.carafe_args) or '(defaults)'}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as logs:
        for server in args.servers:
            for phase in args.phases:
                report(server, phase, run_one(server, phase, args, Path(logs)), args)


if __name__ == "__main__":
    main()
