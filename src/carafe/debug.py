"""What a 500 shows with ``debug=True``: the error and its traceback, to loopback clients only.

Outside debug mode nothing here is used, and a 500 says only that the server failed.
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING

from carafe.responses import ProblemResponse, Response

if TYPE_CHECKING:
    from carafe.requests import Request

__all__ = ["error_response", "is_loopback"]


def is_loopback(request: Request) -> bool:
    client = request.client
    if client is None:
        return False
    host = client.host
    return host in ("::1", "localhost") or host.startswith("127.")


def error_response(exc: BaseException, request: Request) -> Response:
    """A 500 problem document carrying the traceback, when the client is on loopback."""
    document: dict[str, object] = {
        "type": "about:blank",
        "title": "Internal Server Error",
        "status": 500,
        "detail": "The server failed to answer this request.",
    }
    if is_loopback(request):
        document["detail"] = f"{type(exc).__name__}: {exc}"
        document["traceback"] = traceback.format_exception(exc)
    return ProblemResponse(document, status_code=500)
