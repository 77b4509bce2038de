"""The ASGI shapes, named once for type hints."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
"""A connection's ASGI scope: ``{"type": "http", "path": "/items", ...}``."""
Message = MutableMapping[str, Any]
"""One ASGI event: ``{"type": "http.request", "body": b"...", "more_body": False}``."""
Receive = Callable[[], Awaitable[Message]]
"""Awaited for the next message from the server (``await receive()``)."""
Send = Callable[[Message], Awaitable[None]]
"""Awaited to send a message to the server (``await send({...})``)."""
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
"""An ASGI application (a ``Carafe`` app, a middleware): ``await app(scope, receive, send)``."""

__all__ = ["ASGIApp", "Message", "Receive", "Scope", "Send"]
