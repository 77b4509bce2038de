"""What a 500 shows with ``debug=True``: the error, its traceback and the request.

Browsers (``Accept: text/html``) get a page: every frame of the traceback (and of the
exceptions it was raised from) with its source lines, the local variables of your code's
frames, then the request (``Cookie`` and ``Authorization`` values hidden). API clients
get the problem+json document with the traceback as a list of lines. Everything shown is
escaped, and long values are cut.

Only clients on loopback see any of it, and only when the request did not come through a
proxy (a ``Forwarded``/``X-Forwarded-For``/``X-Real-IP`` header means the real client may
be anywhere) and names a loopback host (``localhost``, ``127.x.x.x`` or ``[::1]``, any
port): a page on ``evil.test`` whose name an attacker re-points to 127.0.0.1 (DNS
rebinding, as in Werkzeug's CVE-2024-34069) talks to us from loopback, but its requests
say ``Host: evil.test``. Outside debug mode nothing here is used, and a 500 says only
that the server failed.
"""

from __future__ import annotations

import functools
import html
import ipaddress
import linecache
import os
import reprlib
import site
import sys
import sysconfig
import traceback
from collections.abc import Iterator
from types import FrameType, TracebackType
from typing import TYPE_CHECKING

from carafe.exceptions import HTTPError
from carafe.requests import request_host
from carafe.responses import HTMLResponse, ProblemResponse, Response

if TYPE_CHECKING:
    from carafe.requests import Request

__all__ = ["error_response", "is_library_file", "is_loopback"]

_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie"})
_CONTEXT_LINES = 5

_repr = reprlib.Repr()
_repr.maxstring = 400
_repr.maxother = 400
_repr.maxlist = _repr.maxdict = _repr.maxset = _repr.maxtuple = 30
_repr.maxlevel = 3


def is_loopback(request: Request) -> bool:
    """Whether the client is this machine, talking to us directly (not via a proxy), and
    asking for a loopback host (``localhost``, ``127.x.x.x``, ``[::1]``; any port)."""
    client = request.client
    if client is None or not _is_loopback_name(client.host):
        return False
    headers = request.headers
    if any(name in headers for name in _PROXY_HEADERS):
        return False
    try:
        host = request_host(headers.raw)
    except HTTPError:  # two Host headers, or not a host name
        return False
    if host is None:
        return False
    name = host[1 : host.find("]")] if host.startswith("[") else host.rpartition(":")[0] or host
    return _is_loopback_name(name)


def _is_loopback_name(host: str) -> bool:
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def error_response(exc: BaseException, request: Request) -> Response:
    """The debug-mode 500: a page for browsers, problem+json for everyone else.

    Clients that are not on loopback get the plain 500 document.
    """
    document: dict[str, object] = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server failed to answer this request.",
    }
    if not is_loopback(request):
        return ProblemResponse(document, status_code=500)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(render_page(exc, request), status_code=500)
    document["detail"] = f"{type(exc).__name__}: {exc}"
    document["traceback"] = traceback.format_exception(exc)
    return ProblemResponse(document, status_code=500)


# --- The page ---------------------------------------------------------------------------


def _chain(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it came from, oldest first (as Python prints them)."""
    chain: list[BaseException] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return chain[::-1]


def _frames(tb: TracebackType | None) -> Iterator[tuple[FrameType, int]]:
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def _safe_repr(value: object) -> str:
    # NOTE: reprlib catches a failing __repr__ itself and shows "<Class instance at ...>".
    return _repr.repr(value)


def _source(filename: str, lineno: int) -> str:
    first = max(1, lineno - _CONTEXT_LINES)
    rows = []
    for number in range(first, lineno + _CONTEXT_LINES + 1):
        line = linecache.getline(filename, number)
        if not line and number > lineno:
            break
        mark = ' class="current"' if number == lineno else ""
        rows.append(
            f"<tr{mark}><td class=n>{number}</td>"
            f"<td><code>{html.escape(line.rstrip())}</code></td></tr>"
        )
    return f"<table class=source>{''.join(rows)}</table>" if rows else ""


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    """The real directories of Carafe itself, the standard library and installed packages."""
    import carafe

    found = {os.path.dirname(os.path.realpath(carafe.__file__))}
    paths = sysconfig.get_paths()
    found.update(paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib"))
    found.update(site.getsitepackages())
    found.add(site.getusersitepackages())
    return tuple(os.path.realpath(path).rstrip(os.sep) + os.sep for path in found)


@functools.lru_cache(maxsize=1024)
def is_library_file(filename: str) -> bool:
    """Whether a frame's file is Carafe's own, the standard library's or a package's.

    Decided by the real directories those live in, so that an app of yours under a
    directory named ``carafe`` or ``lib/python3`` is still yours.
    """
    if filename.startswith("<frozen "):
        return True
    return os.path.realpath(filename).startswith(_library_dirs())


def _frame_html(frame: FrameType, lineno: int) -> str:
    code = frame.f_code
    filename = code.co_filename
    library = is_library_file(filename)
    # Library frames (Carafe's own, installed packages) show their source but not their
    # locals: those are noise, and hold the raw scope (cookies, tokens) besides.
    local_rows = "".join(
        f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(_safe_repr(value))}"
        "</code></td></tr>"
        for name, value in ([] if library else sorted(frame.f_locals.items()))
    )
    local_table = f"<table class=locals>{local_rows}</table>" if local_rows else ""
    return (
        f"<details class=frame{' open' if not library else ''}>"
        f"<summary><b>{html.escape(code.co_name)}</b> in "
        f"<code>{html.escape(filename)}</code>, line {lineno}</summary>"
        f"{_source(filename, lineno)}{local_table}</details>"
    )


def _exception_html(exc: BaseException) -> str:
    frames = "".join(_frame_html(frame, lineno) for frame, lineno in _frames(exc.__traceback__))
    return (
        f"<h2>{html.escape(type(exc).__qualname__)}: {html.escape(str(exc))}</h2>"
        f"<div class=frames>{frames}</div>"
    )


def _request_html(request: Request) -> str:
    rows = []
    for name, value in request.headers.items():
        shown = f"({len(value)} characters hidden)" if name in _SECRET_HEADERS else value
        rows.append(
            f"<tr><th>{html.escape(name)}</th><td><code>{html.escape(shown)}</code></td></tr>"
        )
    client = request.client
    try:
        url = str(request.url)
    except HTTPError:  # a bad Host: the page still shows what was asked for
        url = request.path
    return (
        f"<h2>Request</h2><p><code>{html.escape(request.method)} "
        f"{html.escape(url)}</code> from "
        f"<code>{html.escape(client.host if client else '?')}</code></p>"
        f"<table class=headers>{''.join(rows)}</table>"
    )


_STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{color:#a00;font-size:1.5em}h2{font-size:1.15em;margin-top:1.5em}
code{font:13px ui-monospace,monospace;white-space:pre-wrap}
details.frame{border:1px solid #ddd;border-radius:4px;margin:.4em 0;padding:.3em .6em}
table{border-collapse:collapse;margin:.4em 0}
td,th{padding:1px 8px;vertical-align:top;text-align:left}
td.n{color:#999;text-align:right}tr.current{background:#fee}
table.locals th,table.headers th{color:#555;font-weight:600}
.note{color:#777}
"""


def render_page(exc: BaseException, request: Request) -> str:
    """The debug page for ``exc`` raised while answering ``request``, as HTML."""
    chain = _chain(exc)
    sections = "<p class=note>The above exception was the cause of:</p>".join(
        _exception_html(item) for item in chain
    )
    title = html.escape(f"{type(exc).__qualname__}: {exc}")
    version = html.escape(sys.version.split()[0])
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{title}</title><style>{_STYLE}</style></head><body>"
        f"<h1>{title}</h1>"
        "<p class=note>Carafe debug page: shown because the app runs with debug=True and "
        "you are on loopback. Never run with debug=True in production.</p>"
        f"{sections}{_request_html(request)}"
        f"<p class=note>Python {version}</p></body></html>"
    )
