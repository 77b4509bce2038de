"""Carafe: Flask's simplicity and web-app features, FastAPI's typed APIs, faster than both.

::

    from carafe import Carafe

    app = Carafe()

    @app.get("/items/{item_id}")
    async def read_item(item_id: int, q: str | None = None) -> dict:
        return {"item_id": item_id, "q": q}
"""

from carafe.app import Carafe
from carafe.background import BackgroundTasks
from carafe.datastructures import Headers, QueryParams, State
from carafe.di import Depends
from carafe.exceptions import (
    BrokerUnavailable,
    CarafeError,
    ConfigurationError,
    HTTPError,
    RequestValidationError,
    SlowSubscriber,
    WebSocketDisconnect,
)
from carafe.forms import File, Form, FormData
from carafe.limits import Limits
from carafe.params import Body, Cookie, Header, Path, Query
from carafe.pubsub import Broker
from carafe.requests import HTTPConnection, Request
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
from carafe.views import route_options
from carafe.sse import EventSourceResponse, JSONLinesResponse, ServerSentEvent
from carafe.uploads import UploadFile
from carafe.websockets import WebSocket

__version__ = "0.1.0"

__all__ = [
    "BackgroundTasks",
    "Body",
    "Broker",
    "BrokerUnavailable",
    "Carafe",
    "CarafeError",
    "ConfigurationError",
    "Cookie",
    "Depends",
    "EventSourceResponse",
    "File",
    "FileResponse",
    "Form",
    "FormData",
    "HTMLResponse",
    "HTTPConnection",
    "HTTPError",
    "Header",
    "Headers",
    "JSONLinesResponse",
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
    "ServerSentEvent",
    "SlowSubscriber",
    "State",
    "StreamingResponse",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "route_options",
]
