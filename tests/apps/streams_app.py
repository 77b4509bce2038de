"""Streams and downloads for real-server tests (``live_server("tests.apps.streams_app:app")``).

``/closed`` tells which streams have run their ``finally`` blocks, so a test can see
that a client hanging up reached the iterator. ``CARAFE_BIG_FILE`` names the file that
``/big`` sends.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator

from carafe import Carafe, FileResponse, StreamingResponse

app = Carafe()
CLOSED: list[str] = []


@app.get("/stream/async")
def stream_async() -> StreamingResponse:
    async def forever() -> AsyncIterator[bytes]:
        try:
            while True:
                yield b"x" * 1024
                await asyncio.sleep(0.01)
        finally:
            CLOSED.append("async")

    return StreamingResponse(forever(), media_type="application/octet-stream")


@app.get("/stream/sync")
def stream_sync() -> StreamingResponse:
    def forever() -> Iterator[bytes]:
        try:
            while True:
                yield b"y" * 1024
                time.sleep(0.01)
        finally:
            CLOSED.append("sync")

    return StreamingResponse(forever(), media_type="application/octet-stream")


@app.get("/closed")
def closed() -> list[str]:
    return CLOSED


@app.get("/big")
def big() -> FileResponse:
    return FileResponse(os.environ["CARAFE_BIG_FILE"])
