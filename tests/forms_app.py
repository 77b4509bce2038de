"""A tiny app for the real-server upload test in tests/test_forms.py.

Run as ``carafe run tests.forms_app:app``; its one route takes files up to 3 GiB.
"""

from __future__ import annotations

from typing import Any

from carafe import Carafe, Limits, UploadFile

GiB = 1024 * 1024 * 1024

app = Carafe()


@app.post("/upload", limits=Limits(max_file_size=3 * GiB, max_multipart_size=3 * GiB))
async def upload(file: UploadFile) -> dict[str, Any]:
    zeros = 0
    while chunk := await file.read(1024 * 1024):
        zeros += chunk.count(0)
    return {"size": file.size, "on_disk": file.on_disk, "zeros": zeros}
