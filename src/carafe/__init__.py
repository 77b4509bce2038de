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
from carafe.openapi import DocsConfig
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
from carafe.security import Security, SecurityScopes
from carafe.sse import EventSourceResponse, JSONLinesResponse, ServerSentEvent
from carafe.uploads import UploadFile
from carafe.web.csrf import CSRFProtect
from carafe.web.flash import flash, get_flashed_messages
from carafe.web.form_binding import BoundForm, bind_form
from carafe.web.sessions import MemoryStore, RedisStore, Session, Sessions
from carafe.web.templating import Templates
from carafe.websockets import WebSocket

__version__ = "0.1.0"

__all__ = [
    "BackgroundTasks",
    "Body",
    "BoundForm",
    "Broker",
    "BrokerUnavailable",
    "CSRFProtect",
    "Carafe",
    "CarafeError",
    "ConfigurationError",
    "Cookie",
    "Depends",
    "DocsConfig",
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
    "MemoryStore",
    "Path",
    "PlainTextResponse",
    "Query",
    "QueryParams",
    "RedirectResponse",
    "RedisStore",
    "Request",
    "RequestValidationError",
    "Response",
    "Router",
    "Security",
    "SecurityScopes",
    "ServerSentEvent",
    "Session",
    "Sessions",
    "SlowSubscriber",
    "State",
    "StreamingResponse",
    "Templates",
    "UploadFile",
    "WebSocket",
    "WebSocketDisconnect",
    "bind_form",
    "flash",
    "get_flashed_messages",
]
