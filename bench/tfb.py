"""The suite's tests and their correctness checks, after the TechEmpower rules.

Each ``Test`` names the URL wrk hits and a ``check`` that asks a running server the
questions TechEmpower's verifier asks: status, ``Server`` and ``Date`` headers,
``Content-Length``, content type, exact bodies, the ``queries`` parameter clamped to
1..500 (non-numbers count as 1), the fortunes page with the extra fortune added at
request time, sorted, escaped and UTF-8, updates that really reach the database. A
check returns a list of problems; an empty list means the server may be timed.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from pg import FORTUNES
from servers import Reply, get

ITEM = {"name": "Widget", "price": 9.5, "tags": ["a", "b"]}
ITEM_BODY = json.dumps(ITEM, separators=(",", ":"))
ADDITIONAL = (0, "Additional fortune added at request time.")


@dataclass(frozen=True)
class Test:
    name: str
    title: str
    path: str
    check: Callable[[int, psycopg.Connection], list[str]]
    connections: int = 64
    lua: str | None = None  # a wrk script (for POST)


def _common(reply: Reply, ctype: str, status: int = 200) -> list[str]:
    problems = []
    if reply.status != status:
        problems.append(f"status {reply.status}, expected {status}: {reply.body[:120]!r}")
    for header in ("server", "date"):
        if header not in reply.headers:
            problems.append(f"no {header.title()} header")
    if "content-length" in reply.headers:
        if int(reply.headers["content-length"]) != len(reply.body):
            problems.append("Content-Length does not match the body")
    elif "chunked" not in reply.headers.get("transfer-encoding", ""):
        problems.append("neither Content-Length nor chunked Transfer-Encoding")
    got = reply.headers.get("content-type", "")
    if not got.lower().replace(" ", "").startswith(ctype.replace(" ", "")):
        problems.append(f"Content-Type {got!r}, expected {ctype!r}")
    return problems


def _json(reply: Reply) -> Any:
    try:
        return json.loads(reply.body)
    except ValueError:
        return ValueError(f"not JSON: {reply.body[:120]!r}")


def check_json(port: int, db: psycopg.Connection) -> list[str]:
    reply = get(port, "/json")
    problems = _common(reply, "application/json")
    if _json(reply) != {"message": "Hello, World!"}:
        problems.append(f"body {reply.body!r}")
    return problems


def check_plaintext(port: int, db: psycopg.Connection) -> list[str]:
    reply = get(port, "/plaintext")
    problems = _common(reply, "text/plain")
    if reply.body != b"Hello, World!":
        problems.append(f"body {reply.body!r}")
    return problems


def _world_problems(obj: Any, db: psycopg.Connection | None) -> list[str]:
    if not isinstance(obj, dict) or set(obj) != {"id", "randomNumber"}:
        return [f"not a world object: {obj!r}"]
    i, n = obj["id"], obj["randomNumber"]
    if not (isinstance(i, int) and isinstance(n, int) and 1 <= i <= 10000 and 1 <= n <= 10000):
        return [f"world out of range: {obj!r}"]
    if db is not None:
        row = db.execute("SELECT randomnumber FROM world WHERE id = %s", (i,)).fetchone()
        if row is None or row[0] != n:
            return [f"world {i}: answered {n}, the database has {row and row[0]}"]
    return []


def check_db(port: int, db: psycopg.Connection) -> list[str]:
    reply = get(port, "/db")
    return _common(reply, "application/json") + _world_problems(_json(reply), db)


def _check_list(port: int, path: str, db: psycopg.Connection) -> list[str]:
    problems = []
    for raw, expected in (
        ("20", 20),
        ("1", 1),
        ("0", 1),
        ("foo", 1),
        ("501", 500),
        ("", 1),
        (None, 1),
    ):
        url = path if raw is None else f"{path}?queries={raw}"
        reply = get(port, url)
        problems += [f"{url}: {p}" for p in _common(reply, "application/json")]
        data = _json(reply)
        if not isinstance(data, list) or len(data) != expected:
            size = len(data) if isinstance(data, list) else type(data).__name__
            problems.append(f"{url}: {size} rows, expected {expected}")
            continue
        for obj in data[:20]:
            problems += [f"{url}: {p}" for p in _world_problems(obj, db)]
    return problems


def check_queries(port: int, db: psycopg.Connection) -> list[str]:
    return _check_list(port, "/queries", db)


def check_updates(port: int, db: psycopg.Connection) -> list[str]:
    # _world_problems compares each returned row with the database: the update must
    # have landed, with the value the response claims.
    return _check_list(port, "/updates", db)


_ROW = re.compile(r"<tr><td>(.*?)</td><td>(.*?)</td></tr>", re.S)
_HEAD = "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table><tr><th>id</th><th>message</th></tr>"
_TAIL = "</table></body></html>"


def check_fortunes(port: int, db: psycopg.Connection) -> list[str]:
    reply = get(port, "/fortunes")
    problems = _common(reply, "text/html")
    if "utf-8" not in reply.headers.get("content-type", "").lower():
        problems.append("Content-Type does not say charset=utf-8")
    try:
        page = reply.body.decode("utf-8")
    except UnicodeDecodeError:
        return [*problems, "body is not UTF-8"]
    flat = re.sub(r">\s+<", "><", page.strip())
    if not flat.lower().startswith(_HEAD.lower()) or not flat.endswith(_TAIL):
        problems.append(f"page structure differs from TechEmpower's: {flat[:160]!r}")
    rows = _ROW.findall(flat)
    expected = sorted([*FORTUNES, ADDITIONAL], key=lambda f: f[1])
    got = []
    for ident, message in rows:
        if any(ch in message for ch in '<>"'):
            problems.append(f"fortune {ident} is not escaped: {message!r}")
        got.append((int(ident) if ident.strip().isdigit() else ident, html.unescape(message)))
    if got != expected:
        problems.append(f"fortunes differ: got {got!r}")
    return problems


def check_post(port: int, db: psycopg.Connection) -> list[str]:
    ctype = {"Content-Type": "application/json"}
    reply = get(port, "/items", method="POST", body=ITEM_BODY.encode(), headers=ctype)
    problems = _common(reply, "application/json", status=201)
    if _json(reply) != ITEM:
        problems.append(f"body {reply.body!r}")
    bad = get(port, "/items", method="POST", body=b'{"name": 1, "price": "x"}', headers=ctype)
    if not 400 <= bad.status < 500:
        problems.append(f"an invalid item got {bad.status}, expected a 4xx")
    return problems


def check_deps(port: int, db: psycopg.Connection) -> list[str]:
    reply = get(port, "/deps")
    problems = _common(reply, "application/json")
    if _json(reply) != {"service": "svc", "repo": "items", "conn": "conn"}:
        problems.append(f"body {reply.body!r}")
    return problems


def check_io(port: int, db: psycopg.Connection) -> list[str]:
    start = time.perf_counter()
    reply = get(port, "/io")
    elapsed = time.perf_counter() - start
    problems = _common(reply, "application/json")
    if _json(reply) != {"waited_ms": 20}:
        problems.append(f"body {reply.body!r}")
    if elapsed < 0.02:
        problems.append(f"answered in {elapsed * 1e3:.1f} ms, before the 20 ms wait could end")
    return problems


POST_LUA = f"""wrk.method = "POST"
wrk.body = '{ITEM_BODY}'
wrk.headers["Content-Type"] = "application/json"
"""

TESTS: dict[str, Test] = {
    t.name: t
    for t in [
        Test("json", "JSON serialization", "/json", check_json),
        Test("plaintext", "Plaintext", "/plaintext", check_plaintext),
        Test("db", "Single query", "/db", check_db),
        Test("queries", "Multiple queries (20)", "/queries?queries=20", check_queries),
        Test("fortunes", "Fortunes", "/fortunes", check_fortunes),
        Test("updates", "Updates (20)", "/updates?queries=20", check_updates),
        Test("post", "Validated JSON POST", "/items", check_post, lua=POST_LUA),
        Test("deps", "Three-dependency chain", "/deps", check_deps),
        Test("io100", "20 ms DB wait, 100 connections", "/io", check_io, connections=100),
        Test("io1000", "20 ms DB wait, 1,000 connections", "/io", check_io, connections=1000),
    ]
}

#: The app-level feature each test needs (``io100`` and ``io1000`` share ``io``).
FEATURE = {name: ("io" if name.startswith("io") else name) for name in TESTS}
