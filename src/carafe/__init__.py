"""Carafe: Flask's simplicity and web-app features, FastAPI's typed APIs, faster than both.

::

    from carafe import Carafe

    app = Carafe()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None) -> dict:
        return {"item_id": item_id, "q": q}
"""

from carafe.app import Carafe
from carafe.datastructures import Headers, QueryParams, State
from carafe.di import Depends
from carafe.exceptions import (
    CarafeError,
    ConfigurationError,
    HTTPError,
    RequestValidationError,
)
from carafe.forms import File, Form, FormData
from carafe.limits import Limits
from carafe.params import Body, Cookie, Header, Path, Query
from carafe.requests import Request
from carafe.responses import (
    FileResponse,
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from carafe.routing import Router
from carafe.uploads import UploadFile
from carafe.views import route_options

__version__ = "0.1.0"

__all__ = [
    "Body",
    "Carafe",
    "CarafeError",
    "ConfigurationError",
    "Cookie",
    "Depends",
    "File",
    "FileResponse",
    "Form",
    "FormData",
    "HTMLResponse",
    "HTTPError",
    "Header",
    "Headers",
    "JSONResponse",
    "Limits",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "Request",
    "RequestValidationError",
    "Response",
    "Router",
    "State",
    "StreamingResponse",
    "UploadFile",
    "route_options",
]
