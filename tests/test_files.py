"""``FileResponse`` from handlers: names, validators, chunks, disconnects, pathsend.

How ``StaticFiles`` uses it (types, 304, ranges, escapes) is in test_staticfiles.py.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import httpx
import pytest

from carafe import Carafe, FileResponse
from carafe._files import _Conditions
from carafe.staticfiles import StaticFiles
from carafe.testing import TestClient

BIG = bytes(range(256)) * 1024  # 256 KiB: several chunks


@pytest.fixture
def site(tmp_path: Path) -> Path:
    (tmp_path / "notes.txt").write_text("notes\n")
    (tmp_path / "app.css").write_text("body { color: red; }\n")
    (tmp_path / "big.bin").write_bytes(BIG)
    return tmp_path


def file_app(path: Path, **options: Any) -> Carafe:
    app = Carafe()

    @app.get("/file")
    def get_file() -> FileResponse:
        return FileResponse(path, **options)

    @app.post("/file")
    def post_file() -> FileResponse:
        return FileResponse(path, **options)

    return app


def test_file_response_download_names(site: Path) -> None:
    with TestClient(file_app(site / "notes.txt", filename="report.txt")) as client:
        response = client.get("/file")
        assert response.headers["content-disposition"] == 'attachment; filename="report.txt"'
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
    options = {"filename": 'R\u00e9sum\u00e9 "2024".pdf', "content_disposition_type": "inline"}
    with TestClient(file_app(site / "notes.txt", **options)) as client:
        response = client.get("/file")
        assert response.headers["content-disposition"] == (
            'inline; filename="R_sum_ _2024_.pdf"; '
            "filename*=UTF-8''R%C3%A9sum%C3%A9%20%222024%22.pdf"
        )
        assert response.headers["content-type"] == "application/pdf"


def test_file_response_header_injection_is_impossible(site: Path) -> None:
    with TestClient(file_app(site / "notes.txt", filename="a\r\nSet-Cookie: x=1")) as client:
        response = client.get("/file")
        assert "set-cookie" not in response.headers
        assert response.headers["content-disposition"].startswith('attachment; filename="a__Set')


def test_files_are_never_sniffed(site: Path) -> None:
    with TestClient(file_app(site / "notes.txt")) as client:
        response = client.get("/file")
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "content-disposition" not in response.headers  # plain text is shown
        assert client.head("/file").headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("upload.svg", '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("upload.html", "<script>alert(document.cookie)</script>"),
        ("upload.xhtml", '<html xmlns="http://www.w3.org/1999/xhtml"></html>'),
        ("upload.xml", "<x/>"),
    ],
)
def test_pages_a_browser_would_run_are_attachments(site: Path, name: str, content: str) -> None:
    (site / name).write_text(content)
    with TestClient(file_app(site / name)) as client:
        response = client.get("/file")
    assert response.headers["content-disposition"] == "attachment"
    assert response.headers["x-content-type-options"] == "nosniff"
    with TestClient(file_app(site / name, filename="shown.svg")) as client:
        named = client.get("/file").headers["content-disposition"]
    assert named == 'attachment; filename="shown.svg"'


def test_your_own_pages_are_shown_when_you_say_inline(site: Path) -> None:
    (site / "page.html").write_text("<h1>mine</h1>")
    with TestClient(file_app(site / "page.html", content_disposition_type="inline")) as client:
        response = client.get("/file")
    assert "content-disposition" not in response.headers
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    given = file_app(site / "notes.txt", media_type="text/HTML; charset=utf-8")
    with TestClient(given) as client:
        assert client.get("/file").headers["content-disposition"] == "attachment"
    bare = file_app(site / "notes.txt", content_disposition_type="attachment")
    with TestClient(bare) as client:
        assert client.get("/file").headers["content-disposition"] == "attachment"


def test_file_response_head_from_a_get_route(site: Path) -> None:
    with TestClient(file_app(site / "big.bin")) as client:
        response = client.head("/file")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BIG))
    assert response.content == b""


def test_file_response_explicit_headers_win(site: Path) -> None:
    headers = {"etag": '"v1"', "content-type": "text/x-custom", "content-disposition": "inline"}
    app = file_app(site / "notes.txt", headers=headers, filename="ignored.txt")
    with TestClient(app) as client:
        response = client.get("/file")
        assert response.headers["etag"] == '"v1"'
        assert response.headers["content-type"] == "text/x-custom"
        assert response.headers["content-disposition"] == "inline"
        assert client.get("/file", headers={"if-none-match": '"v1"'}).status_code == 304


def test_file_response_with_a_weak_etag(site: Path) -> None:
    app = file_app(site / "notes.txt", headers={"etag": 'W/"v1"'})
    with TestClient(app) as client:
        assert client.get("/file", headers={"if-none-match": '"v1"'}).status_code == 304
        # A weak validator never passes If-Match or If-Range (strong comparison).
        assert client.get("/file", headers={"if-match": 'W/"v1"'}).status_code == 412
        ranged = client.get("/file", headers={"range": "bytes=0-1", "if-range": 'W/"v1"'})
        assert ranged.status_code == 200


def test_dates_without_a_zone_are_utc(site: Path) -> None:
    with TestClient(file_app(site / "notes.txt")) as client:
        assert (
            client.get(
                "/file", headers={"if-modified-since": "Sun, 06 Nov 1994 08:49:37 -0000"}
            ).status_code
            == 200
        )
        future = "Fri, 01 Jan 2100 00:00:00 -0000"
        assert client.get("/file", headers={"if-modified-since": future}).status_code == 304


def test_file_response_with_unparseable_last_modified(site: Path) -> None:
    app = file_app(site / "notes.txt", headers={"last-modified": "yesterday"})
    with TestClient(app) as client:
        since = formatdate(usegmt=True)
        assert client.get("/file", headers={"if-modified-since": since}).status_code == 200
        assert client.get("/file", headers={"if-unmodified-since": since}).status_code == 200


def test_file_response_post_with_matching_if_none_match_is_412(site: Path) -> None:
    with TestClient(file_app(site / "notes.txt")) as client:
        etag = client.get("/file").headers["etag"]
        assert client.post("/file", headers={"if-none-match": etag}).status_code == 412
        # Range applies to GET only.
        ranged = client.post("/file", headers={"range": "bytes=0-1"})
        assert ranged.status_code == 200
        assert ranged.text == "notes\n"


def test_file_response_missing_file_is_404_without_the_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with TestClient(file_app(tmp_path / "private-name.txt")) as client:
        response = client.get("/file")
        assert response.status_code == 404
        assert "private-name" not in response.text
        assert response.json()["detail"] == "The file is not there."
    with TestClient(file_app(tmp_path)) as client:  # a directory is not a file
        assert client.get("/file").status_code == 404
    # The server's log says which file, for whoever runs it.
    messages = [record.getMessage() for record in caplog.records]
    assert any("private-name.txt" in message for message in messages)
    assert any("is not a regular file" in message for message in messages)


def test_file_response_background_runs_after_the_body(site: Path) -> None:
    done: list[str] = []

    async def after() -> None:
        done.append("after")

    for name in ("notes.txt", "big.bin"):
        with TestClient(file_app(site / name, background=after)) as client:
            assert client.get("/file").status_code == 200
    assert done == ["after", "after"]


def test_one_file_response_can_answer_many_requests(site: Path) -> None:
    shared = FileResponse(site / "notes.txt")
    app = Carafe()

    @app.get("/notes")
    def notes() -> FileResponse:
        return shared

    with TestClient(app) as client:
        for _ in range(3):
            response = client.get("/notes", headers={"range": "bytes=0-1"})
            assert response.status_code == 206
            assert response.headers.get_list("content-range") == ["bytes 0-1/6"]
            assert response.headers.get_list("accept-ranges") == ["bytes"]
        assert client.get("/notes").text == "notes\n"


def test_file_response_headers_view_before_sending(site: Path) -> None:
    response = FileResponse(site / "app.css")
    assert response.headers["content-type"] == "text/css; charset=utf-8"
    assert "content-length" not in response.headers  # known once the file is opened


def test_big_file_is_sent_in_chunks(site: Path) -> None:
    with (
        TestClient(file_app(site / "big.bin", chunk_size=4096)) as client,
        client.stream("GET", "/file") as response,
    ):
        chunks = list(response.iter_raw())
    assert len(chunks) == len(BIG) // 4096
    assert b"".join(chunks) == BIG


def open_fds_for(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_client_leaving_mid_download_closes_the_file(site: Path) -> None:
    path = site / "big.bin"
    with TestClient(file_app(path, chunk_size=1024)) as client:
        with client.stream("GET", "/file") as response:
            assert next(response.iter_raw()) == BIG[:1024]
        assert open_fds_for(path.resolve()) == 0
        # The server goes on serving.
        assert client.get("/file", headers={"range": "bytes=-4"}).content == BIG[-4:]


def test_disconnect_stops_reading_the_disk(site: Path) -> None:
    """A client gone after the first chunk: the rest of the file is never read."""
    response = FileResponse(site / "big.bin", chunk_size=1024)
    bodies: list[bytes] = []

    async def run() -> None:
        gone = asyncio.Event()
        messages = iter([{"type": "http.request", "body": b""}])

        async def receive() -> dict[str, Any]:
            message = next(messages, None)
            if message is not None:
                return message
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body":
                bodies.append(message["body"])
                if len(bodies) == 2:
                    gone.set()
                    for _ in range(3):  # let the watcher see it
                        await asyncio.sleep(0)

        scope = {"type": "http", "method": "GET", "headers": []}
        await response(scope, receive, send)

    asyncio.run(run())
    assert bodies[:2] == [BIG[:1024], BIG[1024:2048]]
    assert len(bodies) < 6
    assert bodies[-1] == b""


def test_file_shrinking_mid_send_is_an_error(site: Path) -> None:
    path = site / "shrinks.bin"
    path.write_bytes(bytes(10000))
    response = FileResponse(path, chunk_size=1000)
    transfer = response.prepare({"type": "http", "method": "GET", "headers": []})
    try:
        os.truncate(path, 1500)
        assert len(transfer.read(1000)) == 500
        with pytest.raises(RuntimeError, match="shrank"):
            transfer.read(1000)
    finally:
        os.close(transfer.fd)


def test_per_request_objects_are_slotted(site: Path) -> None:
    transfer = FileResponse(site / "app.css").prepare({"type": "http", "headers": []})
    assert not hasattr(transfer, "__dict__")
    assert not hasattr(_Conditions([]), "__dict__")


# --- A real server: a dropped download ---------------------------------------------


def open_fds_in(pid: int, path: Path) -> int:
    count = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.slow
@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_real_server_stops_reading_when_a_download_is_dropped(
    tmp_path: Path, live_server: Any
) -> None:
    big = tmp_path / "huge.bin"
    with open(big, "wb") as file:
        # Sparse, and far too big to read in the time allowed: only a server that stops
        # reading when the client leaves closes it within the deadline below.
        file.truncate(64 * 1024**3)
    server = live_server("tests.apps.streams_app:app", env={"CARAFE_BIG_FILE": str(big)})
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head = sock.recv(65536)
        assert head.startswith(b"HTTP/1.1 200 OK")
        assert b"content-length: 68719476736" in head.lower()
        assert open_fds_in(server.proc.pid, big) == 1  # mid-download, waiting on us
    deadline = time.monotonic() + 5
    while open_fds_in(server.proc.pid, big) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert open_fds_in(server.proc.pid, big) == 0
    # The server goes on serving, from the same file.
    tail = httpx.get(f"{server.url}/big", headers={"range": "bytes=-3"})
    assert tail.status_code == 206
    assert tail.content == b"\x00\x00\x00"


# --- The pathsend extension: the server sends the file -------------------------------


def run_asgi(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []
    requests = iter([{"type": "http.request", "body": b""}])

    async def receive() -> dict[str, Any]:
        message = next(requests, None)
        if message is None:
            await asyncio.Event().wait()  # a connected client: no more messages
        return message  # type: ignore[return-value]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_pathsend_hands_whole_big_files_to_the_server(site: Path) -> None:
    files = StaticFiles(site)
    base = {"type": "http", "method": "GET", "root_path": "", "headers": []}
    extensions = {"http.response.pathsend": {}}
    start, message = run_asgi(files, {**base, "path": "/big.bin", "extensions": extensions})
    assert start["status"] == 200
    assert (b"content-length", str(len(BIG)).encode()) in start["headers"]
    assert message == {"type": "http.response.pathsend", "path": str(site.resolve() / "big.bin")}
    # A small file is read at once, a range is sent by us, and so is everything without
    # the extension.
    for path, headers, ext in (
        ("/app.css", [], extensions),
        ("/big.bin", [(b"range", b"bytes=10-19")], extensions),
        ("/big.bin", [], {}),
    ):
        scope = {**base, "path": path, "headers": headers, "extensions": ext}
        messages = run_asgi(files, scope)
        assert all(m["type"] != "http.response.pathsend" for m in messages), path
