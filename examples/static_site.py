"""A static site: the files under ``examples/static`` at ``/static``, and a download route.

    CARAFE_STATIC_DIR=/some/folder carafe run examples.static_site:app

``CARAFE_STATIC_DIR`` picks another folder (the security tests point it at a temporary
one with a secret file beside it).
"""

from __future__ import annotations

import os
from pathlib import Path

from carafe import Carafe, FileResponse

HERE = Path(__file__).resolve().parent
DIRECTORY = Path(os.environ.get("CARAFE_STATIC_DIR", HERE / "static"))

app = Carafe(title="Static site")
app.static("/static", str(DIRECTORY))


@app.get("/download")
def download() -> FileResponse:
    """``hello.txt`` as an attachment: the browser saves it rather than showing it."""
    return FileResponse(DIRECTORY / "hello.txt", filename="hello.txt")
