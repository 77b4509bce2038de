"""Forms and uploads: a signup form bound to a model, and a photo upload streamed to disk.

carafe run docs.examples.uploads:app
curl -F name=Ann -F email=ann@example.com -F tags=a -F tags=b localhost:8000/signup
curl -F caption=Sea -F photo=@sea.jpg localhost:8000/photos
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec

from carafe import Carafe, Form, HTTPError, Limits, UploadFile

app = Carafe()


class Signup(msgspec.Struct):
    name: Annotated[str, msgspec.Meta(min_length=1)]
    email: str
    tags: list[str] = []


@app.post("/signup", status_code=201)
async def signup(form: Annotated[Signup, Form()]) -> Signup:
    return form  # a bad field is a 422 at ["form", "<field>"]


@app.post("/photos", limits=Limits(max_file_size=20 * 1024 * 1024, max_files=1))
async def photos(photo: UploadFile, caption: Annotated[str, Form(max_length=200)] = "") -> dict:
    if photo.content_type not in ("image/jpeg", "image/png"):
        raise HTTPError(415, "Send a JPEG or PNG photo.")
    digest = hashlib.sha256()
    while chunk := await photo.read(256 * 1024):  # read from the spooled file in threads
        digest.update(chunk)
    return {"caption": caption, "bytes": photo.size, "sha256": digest.hexdigest()}
