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
    ]
}

#: The three cases the "core" issue is judged on.
CORE_CASES = ("json", "path_query", "post_model")
