"""The in-process benchmark cases: one request each, and the answer it must get.

A case is data: the request to build and the response to expect. Every app module in
``bench/apps/`` says which cases it serves (``SUPPORTED``) and which it cannot serve yet
(``PENDING``, with the reason). To add a case: append a ``Case`` here, then add the
route to each app that can serve it, or a ``PENDING`` entry where it cannot.

>>> CASES["json"].path
'/json'
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

ITEM = {"name": "Widget", "price": 9.5, "tags": ["a", "b"]}
ITEM_BODY = json.dumps(ITEM, separators=(",", ":")).encode()

BOUNDARY = "carafebenchboundary"
FORM_BODY = (
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="name"\r\n\r\n'
    "Widget\r\n"
    f"--{BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="price"\r\n\r\n'
    "9.5\r\n"
    f"--{BOUNDARY}--\r\n"
).encode()

PAGE_ITEMS = [f"item <{i}> & co" for i in range(10)]


def _page_html() -> str:
    rows = "".join(
        f"<li>{s.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}</li>"
        for s in PAGE_ITEMS
    )
    return f"<!DOCTYPE html><html><head><title>Page</title></head><body><h1>Hello, World</h1><ul>{rows}</ul></body></html>"


#: The exact HTML every implementation of the template case must render.
PAGE_HTML = _page_html()

#: The Jinja2 source the template case renders (apps ship it under this name).
PAGE_TEMPLATE = (
    "<!DOCTYPE html><html><head><title>Page</title></head><body>"
    "<h1>Hello, {{ name }}</h1><ul>{% for it in items %}<li>{{ it }}</li>{% endfor %}</ul>"
    "</body></html>"
)


#: The fortunes case (after TechEmpower's): rows "from the database", one more added per
#: request, sorted by message, rendered by Jinja2 with escaping. Messages carry markup,
#: quotes and non-ASCII text on purpose.
FORTUNES = [
    (1, "A watched kettle never boils, but an unwatched one boils over."),
    (2, "<script>alert('fortunes must be escaped');</script>"),
    (3, "Measure twice, deploy once."),
    (4, "Fortune & glory favour the well-indexed table."),
    (5, 'He said "it works on my machine", and it did.'),
    (6, "Caf\u00e9 cr\u00e8me, s'il vous pla\u00eet."),
    (7, "\u30d5\u30ec\u30fc\u30e0\u30ef\u30fc\u30af\u306e\u30d9\u30f3\u30c1\u30de\u30fc\u30af"),
    (8, "Every cache is a promise you may not keep."),
    (9, "Zero bugs were harmed in the making of this page."),
    (10, "Brevity is the soul of a good log line."),
    (11, "The queue is long, but it moves."),
    (12, "Lazy imports make happy start-ups."),
]
FORTUNE_ADDED = "Additional fortune added at request time."

#: The Jinja2 source of the fortunes page.
FORTUNES_TEMPLATE = (
    "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
    "<tr><th>id</th><th>message</th></tr>"
    "{% for id, message in fortunes %}<tr><td>{{ id }}</td><td>{{ message }}</td></tr>{% endfor %}"
    "</table></body></html>"
)


def sorted_fortunes() -> list[tuple[int, str]]:
    """What every fortunes handler does per request: add one, sort by message."""
    rows = [*FORTUNES, (0, FORTUNE_ADDED)]
    rows.sort(key=lambda row: row[1])
    return rows


def _fortunes_html() -> str:
    from markupsafe import escape

    rows = "".join(f"<tr><td>{i}</td><td>{escape(m)}</td></tr>" for i, m in sorted_fortunes())
    return (
        "<!DOCTYPE html><html><head><title>Fortunes</title></head><body><table>"
        f"<tr><th>id</th><th>message</th></tr>{rows}</table></body></html>"
    )


#: The session every framework's ``session_read`` case reads (each signs its own cookie
#: for it at import, with its own session machinery, and sends it with the request).
SESSION_DATA = {"user": "ann", "visits": 5}


#: The rate-limit case: every framework limits one route to this (in memory), and the
#: requests come from ``RATE_LIMIT_CLIENTS`` client addresses in turn (each far under its
#: budget during a run), so every request is counted and let through, as in an API that
#: many clients use at a modest rate each.
RATE_LIMIT = 1000  # per minute and client
RATE_LIMIT_CLIENTS = 10_000

#: What the cached route answers: how many times its handler ran, so that a second answer
#: of 1 shows the first was kept and the second served from the cache.
CACHED_ANSWER = {"message": "Hello, World!", "calls": 1}


@dataclass(frozen=True)
class Case:
    """One request and its expected answer.

    ``expect_json`` is compared after parsing (key order and whitespace are free);
    ``expect_body`` is compared byte for byte. ``content_type`` is a prefix match.
    """

    name: str
    title: str
    method: str
    path: str
    query: bytes = b""
    body: bytes = b""
    headers: tuple[tuple[bytes, bytes], ...] = ()
    status: int = 200
    content_type: str = "application/json"
    expect_json: Any = None
    expect_body: bytes | None = None
    expect_headers: dict[str, str] = field(default_factory=dict)

    def check(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> str | None:
        """Return None when the response is right, else what is wrong."""
        if status != self.status:
            return f"status {status}, expected {self.status}; body {body[:200]!r}"
        hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in headers}
        ctype = hdrs.get("content-type", "")
        if not ctype.startswith(self.content_type):
            return f"content-type {ctype!r}, expected {self.content_type!r}..."
        if "content-length" in hdrs and int(hdrs["content-length"]) != len(body):
            return f"content-length {hdrs['content-length']} but body has {len(body)} bytes"
        for key, value in self.expect_headers.items():
            if value not in hdrs.get(key, ""):
                return f"header {key}: {hdrs.get(key)!r}, expected to contain {value!r}"
        if self.expect_body is not None and body != self.expect_body:
            return f"body {body[:200]!r}, expected {self.expect_body[:200]!r}"
        if self.expect_json is not None:
            try:
                got = json.loads(body)
            except ValueError:
                return f"body is not JSON: {body[:200]!r}"
            if got != self.expect_json:
                return f"JSON {got!r}, expected {self.expect_json!r}"
        return None


_JSON_CT = ((b"content-type", b"application/json"),)

CASES: dict[str, Case] = {
    c.name: c
    for c in [
        Case("json", "GET /json", "GET", "/json", expect_json={"message": "Hello, World!"}),
        Case(
            "plaintext",
            "GET /plaintext",
            "GET",
            "/plaintext",
            content_type="text/plain",
            expect_body=b"Hello, World!",
        ),
        Case(
            "path_query",
            "GET /items/42?q=x (int path param, optional query)",
            "GET",
            "/items/42",
            query=b"q=x",
            expect_json={"item_id": 42, "q": "x"},
        ),
        Case(
            "post_model",
            "POST /items (3-field model, 201)",
            "POST",
            "/items",
            body=ITEM_BODY,
            headers=_JSON_CT,
            status=201,
            expect_json=ITEM,
        ),
        Case(
            "post_pydantic",
            "POST /pitems (pydantic model body, 201)",
            "POST",
            "/pitems",
            body=ITEM_BODY,
            headers=_JSON_CT,
            status=201,
            expect_json=ITEM,
        ),
        Case(
            "deps",
            "GET /deps (3 nested dependencies, one with yield)",
            "GET",
            "/deps",
            expect_json={"service": "svc", "repo": "items", "conn": "conn"},
        ),
        Case(
            "multipart",
            "POST /form (multipart, 2 fields)",
            "POST",
            "/form",
            body=FORM_BODY,
            headers=((b"content-type", f"multipart/form-data; boundary={BOUNDARY}".encode()),),
            expect_json={"name": "Widget", "price": 9.5},
        ),
        Case(
            "template",
            "GET /page (Jinja2 page, 10 escaped rows)",
            "GET",
            "/page",
            content_type="text/html",
            expect_body=PAGE_HTML.encode(),
        ),
        Case(
            "session",
            "GET /session (signed cookie session, set on first visit)",
            "GET",
            "/session",
            expect_json={"visits": 1},
            expect_headers={"set-cookie": "session"},
        ),
        Case(
            "fortunes",
            "GET /fortunes (13 rows sorted, rendered and escaped by Jinja2)",
            "GET",
            "/fortunes",
            content_type="text/html",
            expect_body=_fortunes_html().encode(),
        ),
        Case(
            "session_read",
            "GET /session/read (a signed session cookie sent, read, not changed)",
            "GET",
            "/session/read",
            expect_json={"user": "ann", "visits": 5},
        ),
        Case(
            "ratelimit",
            f"GET /limited (the json answer, rate-limited to {RATE_LIMIT}/minute per client, "
            "in memory)",
            "GET",
            "/limited",
            expect_json={"message": "Hello, World!"},
            expect_headers={"ratelimit-limit": str(RATE_LIMIT)},
        ),
        Case(
            "cache_hit",
            "GET /cached (a response-cache hit, memory store)",
            "GET",
            "/cached",
            expect_json=CACHED_ANSWER,
        ),
    ]
}

#: The three cases the "core" issue is judged on.
CORE_CASES = ("json", "path_query", "post_model")
