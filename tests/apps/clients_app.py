"""An app whose document holds what a client generator must get right (tests/test_clients.py).

Wire names that are Python keywords, builtins or not identifiers at all, an enum, a
nullable field, a dict, nested models, dates and UUIDs, header, cookie and list-valued
query parameters, an optional body, a text answer, a file upload, an operation named
like a builtin, a body of two parameters, and an event stream written by hand.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import msgspec
from pydantic import BaseModel

from carafe import (
    Body,
    Carafe,
    Cookie,
    Form,
    Header,
    HTTPError,
    Query,
    StreamingResponse,
    UploadFile,
)


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Point(msgspec.Struct):
    x: int
    y: int


class Shape(msgspec.Struct, rename={"class_": "class", "x_y": "x-y", "str_": "str"}):
    """A shape, with awkward wire names."""

    class_: str
    x_y: int
    str_: str
    color: Color
    points: list[Point]
    when: datetime.datetime
    ident: uuid.UUID
    note: str | None = None
    meta: dict[str, int] = {}
    level: int = 3


class Echo(msgspec.Struct):
    shape: Shape
    trace: str
    session: str | None
    tags: list[str]


class Stamp(BaseModel):
    """A pydantic model: its schema gives dates and UUIDs a ``format``."""

    at: datetime.datetime
    day: datetime.date
    ident: uuid.UUID
    labels: dict[str, list[int]] = {}


app = Carafe(title="Clients test")


@app.get("/stamps/{ident}")
async def read_stamp(ident: uuid.UUID, day: datetime.date, flag: bool = False) -> Stamp:
    """Echoes typed parameters back in a model."""
    at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    return Stamp(at=at, day=day, ident=ident, labels={"flag": [int(flag)]})


@app.post("/shapes/{shape_id}", operation_id="put-Shape")
async def put_shape(
    shape_id: int,
    shape: Shape,
    x_trace: Annotated[str, Header()],
    session: Annotated[str | None, Cookie()] = None,
    tags: Annotated[list[str], Query()] = [],  # noqa: B006 - never mutated
) -> Echo:
    """Store a shape; the answer echoes what the request carried."""
    if shape_id == 0:
        raise HTTPError(404, "There is no shape 0.")
    return Echo(msgspec.structs.replace(shape, level=shape_id), x_trace, session, tags)


@app.post("/notes", operation_id="list")
async def add_note(note: Point | None = None) -> str:
    """Answers text; the body may be left out."""
    return "none" if note is None else f"{note.x},{note.y}"


@app.post("/upload")
async def upload(photo: UploadFile, caption: Annotated[str, Form()] = "") -> dict[str, str]:
    """A multipart form: one file and one field."""
    data = await photo.read()
    return {"name": photo.filename or "", "size": str(len(data)), "caption": caption}


@app.post("/pairs")
async def pair(point: Point, weight: Annotated[int, Body()]) -> dict[str, int]:
    """Two body parameters: the document has one inline object, the client a model."""
    return {"sum": point.x + point.y, "weight": weight}


_EVENT_STREAM = {
    200: {
        "description": "`text/event-stream`: the text, as it was sent",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
}


@app.post("/replay", responses=_EVENT_STREAM)
async def replay(text: Annotated[str, Body(embed=True)]) -> StreamingResponse:
    """Sends ``text`` back as an event stream, one byte a chunk: any line end, any split."""

    async def one_by_one() -> AsyncIterator[bytes]:
        for byte in text.encode():
            yield bytes([byte])

    return StreamingResponse(one_by_one(), media_type="text/event-stream")
