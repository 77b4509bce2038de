"""Run Debian's ``wrk`` pinned to a core and parse what it prints.

>>> parse_duration("1.50ms")
0.0015
>>> parse(SAMPLE).requests_per_s
12345.67
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from typing import Any

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

SAMPLE = """Running 10s test @ http://127.0.0.1:8000/json
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.23ms  200.00us   9.00ms   90.00%
    Req/Sec    12.40k   300.00    13.00k    70.00%
  Latency Distribution
     50%    1.10ms
     75%    1.30ms
     90%    1.50ms
     99%    3.00ms
  123456 requests in 10.00s, 20.00MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:  12345.67
Transfer/sec:      2.00MB
"""


def parse_duration(text: str) -> float:
    """``'1.50ms'`` -> seconds."""
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text.strip())
    if not m:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


@dataclass
class WrkResult:
    requests_per_s: float
    requests: int
    p50_ms: float | None
    p99_ms: float | None
    connect_errors: int = 0
    read_errors: int = 0
    write_errors: int = 0
    timeouts: int = 0
    non_2xx: int = 0

    @property
    def errors(self) -> int:
        """Everything that is not a good answer: socket errors, timeouts, non-2xx/3xx."""
        return (
            self.connect_errors
            + self.read_errors
            + self.write_errors
            + self.timeouts
            + self.non_2xx
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "errors": self.errors}


def parse(output: str) -> WrkResult:
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    total = re.search(r"(\d+) requests in", output)
    if not rps or not total:
        raise ValueError(f"wrk printed no result:\n{output}")
    pct = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", output, re.M))
    res = WrkResult(
        requests_per_s=float(rps.group(1)),
        requests=int(total.group(1)),
        p50_ms=parse_duration(pct["50"]) * 1e3 if "50" in pct else None,
        p99_ms=parse_duration(pct["99"]) * 1e3 if "99" in pct else None,
    )
    sock = re.search(r"connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if sock:
        res.connect_errors, res.read_errors, res.write_errors, res.timeouts = map(
            int, sock.groups()
        )
    non = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if non:
        res.non_2xx = int(non.group(1))
    return res


def command(
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 1,
    cpu: int | None = 1,
    timeout: float | None = None,
    script: str | None = None,
    nice: int = 0,
) -> list[str]:
    argv = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency"]
    if timeout is not None:
        argv.append(f"--timeout={timeout:g}s")
    if script:
        argv += ["-s", script]
    argv.append(url)
    if cpu is not None and shutil.which("taskset"):
        argv = ["taskset", "-c", str(cpu), *argv]
    if nice:
        argv = ["nice", "-n", str(nice), *argv]
    return argv


def run(url: str, **kwargs: Any) -> tuple[WrkResult, str, list[str]]:
    """Run wrk; return the parsed result, its raw output and the exact command."""
    argv = command(url, **kwargs)
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return parse(proc.stdout), proc.stdout, argv


def available() -> bool:
    return shutil.which("wrk") is not None
