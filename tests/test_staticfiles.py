"""``StaticFiles``: content types, validators and ranges as served, and escapes.

The escape attempts go three ways: through the TestClient (what httpx lets through),
as ASGI scopes built the way uvicorn builds them from a raw request line (so the path
is exactly what an attacker sent), and as raw bytes to a real uvicorn server.
``FileResponse`` returned by handlers is tested in test_files.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest

from carafe import Carafe
from carafe.exceptions import ConfigurationError
from carafe.staticfiles import StaticFiles
from carafe.testing import TestClient

SECRET = b"TOP-SECRET-OUTSIDE"
BIG = bytes(range(256)) * 1024  # 256 KiB: several chunks


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """``tmp/site`` to serve, with ``tmp/secret.txt`` beside it and links leading out."""
    (tmp_path / "secret.txt").write_bytes(SECRET)
    site = tmp_path / "site"
    (site / "sub").mkdir(parents=True)
    (site / "app.css").write_text("body { color: red; }\n")
    (site / "app.js").write_text("console.log('hi');\n")
    (site / "page.html").write_text("<h1>page</h1>")
    (site / "notes.txt").write_text("notes\n")
    (site / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(20))
    (site / "data.qqq").write_bytes(b"\x00\x01")
    (site / "app.css.gz").write_bytes(b"\x1f\x8b")
    (site / "empty.txt").write_bytes(b"")
    (site / "big.bin").write_bytes(BIG)
    (site / "caf\u00e9 menu.txt").write_text("croissant\n")
    (site / "sub" / "index.html").write_text("<h1>sub index</h1>")
    (site / "sub" / "deep.txt").write_text("deep\n")
    (site / "link-out.txt").symlink_to(tmp_path / "secret.txt")
    (site / "dir-out").symlink_to(tmp_path)
    (site / "link-in.css").symlink_to(site / "app.css")
    return site


@pytest.fixture
def client(site: Path) -> Any:
    app = Carafe()
    app.static("/static", str(site))
    with TestClient(app) as client:
        yield client


def no_secret(body: bytes) -> bool:
    return SECRET not in body


# --- Serving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("app.css", "text/css; charset=utf-8"),
        ("app.js", "text/javascript; charset=utf-8"),
        ("page.html", "text/html; charset=utf-8"),
        ("notes.txt", "text/plain; charset=utf-8"),
        ("logo.png", "image/png"),
        ("data.qqq", "application/octet-stream"),
        ("app.css.gz", "application/gzip"),
        ("big.bin", "application/octet-stream"),
    ],
)
def test_content_types(client: Any, site: Path, name: str, content_type: str) -> None:
    response = client.get(f"/static/{name}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type
    assert response.content == (site / name).read_bytes()
    assert response.headers["content-length"] == str((site / name).stat().st_size)
    assert response.headers["cache-control"] == "no-cache"
    assert response.headers["accept-ranges"] == "bytes"


def test_validators_come_from_the_file(client: Any, site: Path) -> None:
    info = (site / "app.css").stat()
    response = client.get("/static/app.css")
    assert response.headers["last-modified"] == formatdate(info.st_mtime, usegmt=True)
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert client.get("/static/app.css").headers["etag"] == etag
    os.utime(site / "app.css", ns=(info.st_atime_ns, info.st_mtime_ns + 10**9))
    assert client.get("/static/app.css").headers["etag"] != etag


def test_non_ascii_and_spaces_in_names(client: Any) -> None:
    response = client.get("/static/caf%C3%A9%20menu.txt")
    assert response.status_code == 200
    assert response.text == "croissant\n"


def test_url_path_for_static(site: Path) -> None:
    app = Carafe()
    app.static("/static", str(site))
    assert app.url_path_for("static", path="app.css") == "/static/app.css"
    with TestClient(app) as client:
        assert client.get(app.url_path_for("static", path="sub/deep.txt")).text == "deep\n"


def test_symlink_inside_the_directory_is_served(client: Any) -> None:
    response = client.get("/static/link-in.css")
    assert response.status_code == 200
    assert response.text == "body { color: red; }\n"
    assert response.headers["content-type"] == "text/css; charset=utf-8"


def test_static_files_are_not_sniffed_and_pages_are_shown(client: Any, site: Path) -> None:
    (site / "icon.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg"/>')
    for name in ("page.html", "icon.svg", "notes.txt", "data.qqq"):
        response = client.get(f"/static/{name}")
        assert response.headers["x-content-type-options"] == "nosniff", name
        assert "content-disposition" not in response.headers, name


def test_head_sends_headers_only(client: Any) -> None:
    response = client.head("/static/big.bin")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == str(len(BIG))
    assert "etag" in response.headers


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_get_405(client: Any, method: str) -> None:
    response = client.request(method, "/static/app.css")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert response.headers["content-type"] == "application/problem+json"
    assert "GET or HEAD" in response.json()["detail"]


def test_directories_are_never_listed(client: Any) -> None:
    for path in ("/static", "/static/", "/static/sub", "/static/sub/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "index" not in response.text


def test_missing_file_is_a_problem_404(client: Any) -> None:
    response = client.get("/static/nope.css")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["detail"] == "Nothing is at /static/nope.css."


def test_a_file_named_like_a_directory_is_404(client: Any) -> None:
    assert client.get("/static/app.css/").status_code == 404


def test_very_long_paths_are_cheap_404s(client: Any) -> None:
    started = time.perf_counter()
    response = client.get("/static/" + "a/" * 20000 + "x.css")
    assert response.status_code == 404
    assert time.perf_counter() - started < 2
    long = client.get("/static/" + "n" * 5000)
    assert long.status_code == 404
    assert long.json()["detail"] == f"Nothing is at /static/{'n' * 92}...."  # not 5,000 back


def test_symlink_loops_are_404(site: Path, client: Any) -> None:
    (site / "loop-a").symlink_to(site / "loop-b")
    (site / "loop-b").symlink_to(site / "loop-a")
    assert client.get("/static/loop-a").status_code == 404


def test_fifo_is_refused_without_hanging(site: Path, client: Any) -> None:
    os.mkfifo(site / "pipe.txt")
    assert client.get("/static/pipe.txt").status_code == 404


def test_dotfiles_are_hidden_unless_asked(site: Path) -> None:
    (site / ".env").write_text("PASSWORD=hunter2\n")
    (site / ".git").mkdir()
    (site / ".git" / "config").write_text("[core]\n")
    (site / ".well-known").mkdir()
    (site / ".well-known" / "security.txt").write_text("Contact: mailto:sec@example.com\n")
    app = Carafe()
    app.static("/static", str(site))
    app.mount("/all", StaticFiles(site, dotfiles=True))
    with TestClient(app) as client:
        for path in ("/static/.env", "/static/.git/config", "/static/sub/.env"):
            response = client.get(path)
            assert response.status_code == 404, path
            assert "hunter2" not in response.text
        assert client.get("/static/.well-known/security.txt").status_code == 200
        assert client.get("/all/.env").text == "PASSWORD=hunter2\n"


def test_html_mode_serves_index_and_404_page(site: Path) -> None:
    app = Carafe()
    app.mount("/", StaticFiles(site, html=True), name="site")
    with TestClient(app) as client:
        assert client.get("/sub/").text == "<h1>sub index</h1>"
        redirect = client.get("/sub?x=1", follow_redirects=False)
        assert redirect.status_code == 307
        assert redirect.headers["location"] == "/sub/?x=1"
        assert client.get("/sub", follow_redirects=False).headers["location"] == "/sub/"
        (site / "what? #1").mkdir()
        (site / "what? #1" / "index.html").write_text("odd name")
        odd = client.get("/what%3F%20%231", follow_redirects=False)
        assert odd.headers["location"] == "/what%3F%20%231/"
        assert client.get(odd.headers["location"]).text == "odd name"
        # No index.html at the top and no 404.html yet: a plain 404.
        assert client.get("/").status_code == 404
        (site / "404.html").write_text("<h1>lost</h1>")
        missing = client.get("/nope")
        assert missing.status_code == 404
        assert missing.text == "<h1>lost</h1>"
        assert missing.headers["content-type"] == "text/html; charset=utf-8"
        assert "accept-ranges" not in missing.headers
        # A 404 page is always sent whole: validators do not turn it into a 304.
        etag = missing.headers["etag"]
        assert client.get("/nope", headers={"if-none-match": etag}).status_code == 404
        (site / "index.html").write_text("home")
        assert client.get("/").text == "home"


def test_missing_directory_is_a_configuration_error(tmp_path: Path) -> None:
    app = Carafe()
    with pytest.raises(ConfigurationError, match="does not exist"):
        app.static("/static", str(tmp_path / "nowhere"))
    app.mount("/late", StaticFiles(tmp_path / "nowhere", check_dir=False))
    with TestClient(app) as client:
        assert client.get("/late/x.css").status_code == 404


def test_cache_control_is_configurable(site: Path) -> None:
    app = Carafe()
    app.mount("/hashed", StaticFiles(site, cache_control="public, max-age=31536000, immutable"))
    app.mount("/plain", StaticFiles(site, cache_control=None))
    with TestClient(app) as client:
        hashed = client.get("/hashed/app.css")
        assert hashed.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert "cache-control" not in client.get("/plain/app.css").headers


def test_under_a_root_path(site: Path) -> None:
    app = Carafe()
    app.static("/static", str(site))
    with TestClient(app, root_path="/shop") as client:
        assert client.get("/static/app.css").text == "body { color: red; }\n"


def test_websocket_and_lifespan_scopes(site: Path) -> None:
    files = StaticFiles(site)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        raise AssertionError("not called")

    async def run() -> None:
        await files({"type": "websocket", "path": "/x"}, receive, send)
        await files({"type": "lifespan"}, receive, send)

    asyncio.run(run())
    assert sent == [{"type": "websocket.close", "code": 1000}]


def test_the_example_site() -> None:
    from examples.static_site import app

    with TestClient(app) as client:
        css = client.get(app.url_path_for("static", path="app.css"))
        assert css.headers["content-type"] == "text/css; charset=utf-8"
        assert css.text == "body { font-family: sans-serif; }\n"
        download = client.get("/download")
        assert download.headers["content-disposition"] == 'attachment; filename="hello.txt"'
        assert download.text == "Hello from Carafe.\n"


# --- Conditional requests ------------------------------------------------------------


def test_if_none_match_gives_304(client: Any) -> None:
    first = client.get("/static/app.css")
    etag = first.headers["etag"]
    for value in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get("/static/app.css", headers={"if-none-match": value})
        assert response.status_code == 304, value
        assert response.content == b""
        assert response.headers["etag"] == etag
        assert response.headers["cache-control"] == "no-cache"
        assert "content-length" not in response.headers
        assert "content-type" not in response.headers
    changed = client.get("/static/app.css", headers={"if-none-match": '"other"'})
    assert changed.status_code == 200
    assert changed.text == first.text


def test_if_modified_since(client: Any, site: Path) -> None:
    last_modified = client.get("/static/app.css").headers["last-modified"]
    assert (
        client.get("/static/app.css", headers={"if-modified-since": last_modified}).status_code
        == 304
    )
    mtime = (site / "app.css").stat().st_mtime
    older = formatdate(mtime - 3600, usegmt=True)
    assert client.get("/static/app.css", headers={"if-modified-since": older}).status_code == 200
    bogus = client.get("/static/app.css", headers={"if-modified-since": "not a date"})
    assert bogus.status_code == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 section 13.2.2).
    both = client.get(
        "/static/app.css", headers={"if-none-match": '"other"', "if-modified-since": last_modified}
    )
    assert both.status_code == 200


def test_head_gets_304_too(client: Any) -> None:
    etag = client.get("/static/app.css").headers["etag"]
    assert client.head("/static/app.css", headers={"if-none-match": etag}).status_code == 304


def test_if_match_and_if_unmodified_since_give_412(client: Any, site: Path) -> None:
    etag = client.get("/static/app.css").headers["etag"]
    assert client.get("/static/app.css", headers={"if-match": etag}).status_code == 200
    assert client.get("/static/app.css", headers={"if-match": "*"}).status_code == 200
    failed = client.get("/static/app.css", headers={"if-match": '"stale"'})
    assert failed.status_code == 412
    assert failed.headers["content-type"] == "application/problem+json"
    # If-Match uses the strong comparison: a weak tag never matches.
    assert client.get("/static/app.css", headers={"if-match": f"W/{etag}"}).status_code == 412
    mtime = (site / "app.css").stat().st_mtime
    before = formatdate(mtime - 3600, usegmt=True)
    after = formatdate(mtime + 3600, usegmt=True)
    assert client.get("/static/app.css", headers={"if-unmodified-since": before}).status_code == 412
    assert client.get("/static/app.css", headers={"if-unmodified-since": after}).status_code == 200


# --- Ranges ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, len(BIG) - 1),
        ("bytes=-100", len(BIG) - 100, len(BIG) - 1),
        ("bytes=1000-999999999", 1000, len(BIG) - 1),
        ("bytes=-999999999", 0, len(BIG) - 1),
        ("Bytes = 5 - 9", 5, 9),
        ("bytes=70000-200000", 70000, 200000),
        ("bytes=0-99999999999999999999999999999999999999", 0, len(BIG) - 1),
    ],
)
def test_single_range_gives_206(client: Any, header: str, start: int, end: int) -> None:
    response = client.get("/static/big.bin", headers={"range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(BIG)}"
    assert response.headers["content-length"] == str(end - start + 1)
    assert response.content == BIG[start : end + 1]


@pytest.mark.parametrize(
    "header",
    ["bytes=300000-", "bytes=-0", f"bytes={len(BIG)}-", "bytes=9" + "9" * 40 + "-"],
)
def test_unsatisfiable_range_gives_416(client: Any, header: str) -> None:
    response = client.get("/static/big.bin", headers={"range": header})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(BIG)}"
    assert response.headers["content-type"] == "application/problem+json"


def test_empty_file_has_no_satisfiable_range(client: Any) -> None:
    assert client.get("/static/empty.txt").content == b""
    response = client.get("/static/empty.txt", headers={"range": "bytes=0-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == "bytes */0"
    assert client.get("/static/empty.txt", headers={"range": "bytes=-5"}).status_code == 416


@pytest.mark.parametrize(
    "header",
    [
        "bytes=0-1,5-6",  # several ranges: the whole file (see carafe._files)
        "bytes=0-0,0-0,0-0,0-0",
        "items=0-5",
        "bytes=5-2",
        "bytes=abc",
        "bytes=a-5",
        "bytes=-",
        "bytes=1-x",
        "bytes=\u00b2-5",  # a superscript two: str.isdigit() says yes, int() says no
        "bytes 0-5",
    ],
)
def test_multiple_or_malformed_ranges_give_the_whole_file(client: Any, header: str) -> None:
    response = client.get("/static/big.bin", headers={"range": header.encode("latin-1")})
    assert response.status_code == 200
    assert response.content == BIG
    assert "content-range" not in response.headers


def test_two_range_headers_give_the_whole_file(client: Any) -> None:
    response = client.get(
        "/static/big.bin", headers=[("range", "bytes=0-1"), ("range", "bytes=4-5")]
    )
    assert response.status_code == 200
    assert len(response.content) == len(BIG)


def test_head_ignores_range(client: Any) -> None:
    response = client.head("/static/big.bin", headers={"range": "bytes=0-9"})
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BIG))


def test_if_range(client: Any) -> None:
    full = client.get("/static/big.bin")
    etag, last_modified = full.headers["etag"], full.headers["last-modified"]
    for validator in (etag, last_modified):
        hit = client.get("/static/big.bin", headers={"range": "bytes=0-9", "if-range": validator})
        assert hit.status_code == 206, validator
        assert hit.content == BIG[:10]
    for stale in ('"stale"', f"W/{etag}", "Mon, 01 Jan 2001 00:00:00 GMT", "garbage"):
        miss = client.get("/static/big.bin", headers={"range": "bytes=0-9", "if-range": stale})
        assert miss.status_code == 200, stale
        assert miss.content == BIG


# --- Escapes ------------------------------------------------------------------------------

# What an attacker puts in the request line; each must get 400 or 404, never the secret.
ATTACKS = [
    "/static/../secret.txt",
    "/static/%2e%2e/secret.txt",
    "/static/%2E%2E/secret.txt",
    "/static/..%2fsecret.txt",
    "/static/..%2Fsecret.txt",
    "/static/%2e%2e%2fsecret.txt",
    "/static/sub/../../secret.txt",
    "/static/sub/%2e%2e/%2e%2e/secret.txt",
    "/static/./../secret.txt",
    "/static/a%00b",
    "/static/app.css%00.png",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/%2Fetc/passwd",
    "/static/..\\secret.txt",
    "/static/..%5csecret.txt",
    "/static/..%5Csecret.txt",
    "/static/%5c..%5csecret.txt",
    "/static/link-out.txt",
    "/static/dir-out/secret.txt",
    "/static/%252e%252e/secret.txt",
    "/static/%c0%ae%c0%ae/secret.txt",  # overlong UTF-8 for ".."
    "/static/..%c0%afsecret.txt",  # overlong UTF-8 for "/"
    "/static/%u002e%u002e/secret.txt",  # IIS-style
    "/static/..;/secret.txt",  # a path parameter, as some Java servers read it
    "/static/link-out.txt/",
    "/static/.%2e/secret.txt",
    "/static/sub/..",
    "/static/...",
]


def call_like_uvicorn(app: Any, raw_path: str) -> tuple[int, bytes]:
    """Send ``GET raw_path`` to ``app`` with the scope uvicorn builds from a request line."""
    raw = raw_path.encode("latin-1")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 5000),
        "server": ("testserver", 80),
    }
    status = 0
    body = b""

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status, body
        if message["type"] == "http.response.start":
            status = message["status"]
        else:
            body += message.get("body", b"")

    asyncio.run(app(scope, receive, send))
    return status, body


@pytest.mark.parametrize("attack", ATTACKS)
def test_escapes_through_the_test_client(client: Any, attack: str) -> None:
    response = client.get(attack)
    assert response.status_code in (400, 404), attack
    assert no_secret(response.content)


@pytest.mark.parametrize("attack", ATTACKS)
def test_escapes_as_a_server_would_pass_them(site: Path, attack: str) -> None:
    app = Carafe()
    app.static("/static", str(site))
    status, body = call_like_uvicorn(app, attack)
    assert status in (400, 404), attack
    assert no_secret(body)
    assert str(site.parent) not in body.decode("latin-1")


def test_escape_without_raw_path(site: Path) -> None:
    # Servers may leave raw_path out; the decoded path is checked all the same.
    files = StaticFiles(site)
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    for path in ("/../secret.txt", "/a\\..\\..\\secret.txt", "/a\x00b"):
        sent.clear()
        scope = {"type": "http", "method": "GET", "path": path, "root_path": "", "headers": []}
        asyncio.run(files(scope, receive, send))
        assert sent[0]["status"] == 400
        assert no_secret(sent[1]["body"])


def test_follow_symlinks_trusts_the_directory_owner(site: Path) -> None:
    app = Carafe()
    app.mount("/static", StaticFiles(site, follow_symlinks=True))
    with TestClient(app) as client:
        assert client.get("/static/link-out.txt").content == SECRET
        # Only links: the path itself still cannot climb out.
        assert client.get("/static/%2e%2e/secret.txt").status_code == 400


# --- A real server, raw bytes on a socket --------------------------------------------


def raw_request(port: int, target: bytes, method: bytes = b"GET", extra: bytes = b"") -> bytes:
    request = method + b" " + target + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra
    request += b"Connection: close\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def status_of(reply: bytes) -> int:
    return int(reply.split(b" ", 2)[1])


@pytest.mark.slow
def test_escapes_against_real_uvicorn(site: Path, live_server: Any) -> None:
    (site / "hello.txt").write_text("hello\n")
    server = live_server("examples.static_site:app", env={"CARAFE_STATIC_DIR": str(site)})
    ok = raw_request(server.port, b"/static/app.css")
    assert status_of(ok) == 200
    assert ok.endswith(b"body { color: red; }\n")
    for attack in ATTACKS:
        reply = raw_request(server.port, attack.encode("latin-1"))
        assert status_of(reply) in (400, 404), (attack, reply[:200])
        assert no_secret(reply), attack
    # Literal bytes no client library would send: uvicorn refuses some itself (400).
    for target in (b"/static/../../secret.txt", b"/static/a\x00b", b"/static/..\\..\\secret.txt"):
        reply = raw_request(server.port, target)
        assert reply == b"" or status_of(reply) in (400, 404), target
        assert no_secret(reply)
    # Range, 304 and HEAD over the wire.
    ranged = raw_request(server.port, b"/static/big.bin", extra=b"Range: bytes=10-19\r\n")
    assert status_of(ranged) == 206
    assert b"content-range: bytes 10-19/262144" in ranged.lower()
    assert ranged.endswith(BIG[10:20])
    etag = next(
        line.split(b":", 1)[1].strip()
        for line in ok.split(b"\r\n")
        if line.lower().startswith(b"etag:")
    )
    cached = raw_request(server.port, b"/static/app.css", extra=b"If-None-Match: " + etag + b"\r\n")
    assert status_of(cached) == 304
    head = raw_request(server.port, b"/static/big.bin", method=b"HEAD")
    assert status_of(head) == 200
    assert head.endswith(b"\r\n\r\n")
    download = raw_request(server.port, b"/download")
    assert status_of(download) == 200
    assert b'content-disposition: attachment; filename="hello.txt"' in download.lower()
    # After all of that, the server still serves.
    assert status_of(raw_request(server.port, b"/static/sub/deep.txt")) == 200


@pytest.mark.slow
def test_big_files_through_granian(site: Path, live_server: Any) -> None:
    server = live_server(
        "examples.static_site:app", "--server", "granian", env={"CARAFE_STATIC_DIR": str(site)}
    )
    deadline = time.monotonic() + 15
    while True:  # granian may listen before its workers are ready
        try:
            response = httpx.get(f"{server.url}/static/big.bin", timeout=10)
            break
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
    assert response.status_code == 200
    assert response.content == BIG
    assert response.headers["content-length"] == str(len(BIG))
    ranged = httpx.get(f"{server.url}/static/big.bin", headers={"range": "bytes=-5"})
    assert ranged.status_code == 206
    assert ranged.content == BIG[-5:]
    for attack in ATTACKS:
        reply = raw_request(server.port, attack.encode("latin-1"))
        assert reply == b"" or status_of(reply) in (400, 404), (attack, reply[:200])
        assert no_secret(reply), attack
