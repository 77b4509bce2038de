"""Mounting: a Flask app, a Starlette app and a Carafe sub-app served by one Carafe app.

    carafe run examples.mounting:app                        # http://127.0.0.1:8000/
    carafe run examples.mounting:app --root-path /proxy     # behind a proxy at /proxy

Each mounted app sees only its own paths and builds URLs with the mount prefix (and the
proxy's root path) in front. The lifespans of the Starlette and Carafe sub-apps run
with the main app's, and what they yield is ``request.state`` in their own handlers.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from flask import Flask, redirect, request, url_for
from starlette.applications import Starlette
from starlette.requests import Request as StarletteRequest
from starlette.responses import JSONResponse as StarletteJSON
from starlette.routing import Route as StarletteRoute

from carafe import Carafe, RedirectResponse, Request

# --- A Flask app, as it was: WSGI, run in a thread pool -------------------------------

legacy = Flask(__name__)


@legacy.get("/")
def legacy_index() -> dict[str, str]:
    return {"app": "flask", "self": url_for("legacy_index"), "form": url_for("legacy_form")}


@legacy.route("/form", methods=["GET", "POST"])
def legacy_form() -> Any:
    if request.method == "POST":
        return {"name": request.form["name"], "tags": request.form.getlist("tag")}
    return '<form method="post"><input name="name"></form>'


@legacy.get("/old-home")
def legacy_old_home() -> Any:
    return redirect(url_for("legacy_index"))


# --- A Starlette app with a lifespan ---------------------------------------------------

starlette_events: list[str] = []


@contextlib.asynccontextmanager
async def starlette_lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    starlette_events.append("startup")
    yield {"pool": "starlette-pool"}
    starlette_events.append("shutdown")


async def starlette_index(request: StarletteRequest) -> StarletteJSON:
    return StarletteJSON(
        {
            "app": "starlette",
            "pool": request.state.pool,
            "path": request.url.path,
            "root_path": request.scope["root_path"],
        }
    )


starlette_app = Starlette(
    routes=[StarletteRoute("/", starlette_index)], lifespan=starlette_lifespan
)

# --- A Carafe sub-app with a lifespan --------------------------------------------------

admin_events: list[str] = []


@contextlib.asynccontextmanager
async def admin_lifespan(app: Carafe) -> AsyncIterator[dict[str, Any]]:
    admin_events.append("startup")
    yield {"greeting": "hello, admin"}
    admin_events.append("shutdown")


admin = Carafe(title="Admin", lifespan=admin_lifespan)


@admin.get("/")
def admin_index(request: Request) -> dict[str, Any]:
    return {
        "app": "admin",
        "greeting": request.state.greeting,
        "self": request.url_for("admin_index"),
        "users": request.url_for("admin_user", user_id=7),
    }


@admin.get("/users/{user_id}")
def admin_user(user_id: int) -> dict[str, int]:
    return {"user_id": user_id}


@admin.get("/home")
def admin_home(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("admin_index"), 303)


# --- The main app ----------------------------------------------------------------------

app = Carafe(title="Mounting example")


@app.get("/")
def index(request: Request) -> dict[str, str]:
    return {
        "app": "main",
        "self": request.url_for("index"),
        "flask": request.url_for("legacy", path="form"),
    }


@app.get("/start")
def start(request: Request) -> RedirectResponse:
    return RedirectResponse(request.url_for("index"), 303)


@app.get("/legacy/status")
def legacy_status() -> dict[str, str]:
    """A route under a mount's prefix: the route wins, the mount takes the rest."""
    return {"served_by": "main"}


app.mount("/legacy", legacy, name="legacy")
app.mount("/starlette", starlette_app)
app.mount("/admin", admin)
