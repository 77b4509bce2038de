"""The app in docs/middleware.md: the shipped middleware and request hooks together."""

from __future__ import annotations

import uuid

from carafe import Carafe, RedirectResponse, Request, Response
from carafe.middleware import (
    CORSMiddleware,
    GZipMiddleware,
    SecurityHeadersMiddleware,
    TrustedHostMiddleware,
)

app = Carafe()
app.add_middleware(GZipMiddleware, minimum_size=500)
app.add_middleware(SecurityHeadersMiddleware, hsts_max_age=31_536_000)
app.add_middleware(CORSMiddleware, allow_origins=["https://shop.example"])
app.add_middleware(TrustedHostMiddleware, allowed_hosts=["shop.example", "*.shop.example"])


@app.before_request
async def require_login(request: Request) -> Response | None:
    if request.url.path.startswith("/admin") and not request.cookies.get("session"):
        return RedirectResponse("/login", 303)  # sent instead of calling the handler
    return None


@app.after_request
def stamp(request: Request, response: Response) -> Response | None:
    response.headers["x-request-id"] = request.headers.get("x-request-id") or uuid.uuid4().hex
    return None  # or return a new Response


@app.get("/catalog")
def catalog() -> dict[str, list[str]]:
    return {"items": [f"item {n}" for n in range(100)]}


@app.get("/admin")
def admin() -> str:
    return "the admin page"


@app.get("/login")
def login() -> str:
    return "log in here"
