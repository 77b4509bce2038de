"""ETagMiddleware: JSON answers are tagged; a matching If-None-Match gets a bare 304."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from carafe import Carafe, FileResponse, JSONResponse, StreamingResponse
from carafe.middleware import ETagMiddleware
from carafe.testing import TestClient

state = {"price": 1}


def make_app() -> Carafe:
    app = Carafe(docs=None)
    app.add_middleware(ETagMiddleware)

    @app.get("/item")
    async def item() -> dict[str, int]:
        return {"price": state["price"]}

    @app.get("/text")
    async def text() -> str:
        return "plain"

    @app.get("/private")
    async def private() -> JSONResponse:
        return JSONResponse({"a": 1}, headers={"cache-control": "no-store"})

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b'{"a":'
            yield b"1}"

        return StreamingResponse(chunks(), media_type="application/json")

    @app.get("/file")
    async def file() -> FileResponse:
        return FileResponse(__file__)

    @app.post("/item")
    async def update() -> dict[str, int]:
        return {"price": state["price"]}

    return app


def test_a_matching_tag_is_a_304_and_a_change_is_a_new_tag() -> None:
    state["price"] = 1
    with TestClient(make_app()) as client:
        first = client.get("/item")
        tag = first.headers["etag"]
        assert tag.startswith('W/"') and first.json() == {"price": 1}
        again = client.get("/item", headers={"if-none-match": tag})
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
        assert "content-type" not in again.headers
        assert client.get("/item", headers={"if-none-match": f'"x", {tag}'}).status_code == 304
        assert client.get("/item", headers={"if-none-match": "*"}).status_code == 304
        state["price"] = 2
        changed = client.get("/item", headers={"if-none-match": tag})
        assert changed.status_code == 200 and changed.json() == {"price": 2}
        assert changed.headers["etag"] != tag


def test_what_is_left_alone() -> None:
    with TestClient(make_app()) as client:
        assert "etag" not in client.get("/text").headers  # not JSON
        assert "etag" not in client.get("/private").headers  # no-store
        streamed = client.get("/stream")
        assert streamed.json() == {"a": 1} and "etag" not in streamed.headers
        served = client.get("/file")  # a file keeps its own tag (size and time)
        ours = hashlib.blake2b(served.content, digest_size=16).hexdigest()
        assert ours not in served.headers["etag"]
        posted = client.post("/item", headers={"if-none-match": "*"})
        assert posted.status_code == 200 and "etag" not in posted.headers
        assert client.get("/nowhere").status_code == 404
