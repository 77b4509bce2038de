"""Carafe, written against its public API: typed handlers, msgspec Structs, Depends.

Cases whose Carafe feature is not importable are listed in ``PENDING`` with the reason,
and the runner skips them with that message; nothing is faked.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from cases import (
    FORTUNES_TEMPLATE,
    PAGE_ITEMS,
    PAGE_TEMPLATE,
    RATE_LIMIT,
    RATE_LIMIT_CLIENTS,
    SESSION_DATA,
    sorted_fortunes,
)
from pydantic import BaseModel

from apps import EXTRA_ROUTES, from_clients, with_cookie
from carafe import Carafe, Depends, Request
from carafe.caching import MemoryCache, ResponseCache, cache
from carafe.ratelimit import rate_limit
from carafe.responses import HTMLResponse, PlainTextResponse

# Optional features, imported at module level so the handlers' annotations resolve; a
# missing one marks its case as pending instead of failing the whole module.
try:
    from carafe import Form
except ImportError as _exc:
    Form = None
    _FORM_ERROR = repr(_exc)
try:
    from carafe.web.templating import Templates
except ImportError as _exc:
    Templates = None
    _TEMPLATES_ERROR = repr(_exc)
try:
    from carafe.web.sessions import Session
except ImportError as _exc:
    Session = None
    _SESSION_ERROR = repr(_exc)

SUPPORTED = {
    "json",
    "plaintext",
    "path_query",
    "post_model",
    "post_pydantic",
    "deps",
    "ratelimit",
    "cache_hit",
}
PENDING: dict[str, str] = {}


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


class PItem(BaseModel):
    name: str
    price: float
    tags: list[str] = []


app = Carafe()


def _add_other_routes(app: Carafe) -> None:
    # Distinct functions with distinct names: a route's default name is its function's.
    for i in range(EXTRA_ROUTES):
        if i % 2:

            async def other_id(id: int) -> dict:
                return {}

            other_id.__name__ = other_id.__qualname__ = f"r{i}"
            app.get(f"/r{i}/{{id}}")(other_id)
        else:

            async def other() -> dict:
                return {}

            other.__name__ = other.__qualname__ = f"r{i}"
            app.get(f"/r{i}")(other)


_add_other_routes(app)


@app.get("/json")
async def json_() -> dict:
    return {"message": "Hello, World!"}


# A limit is a dependency of its route: the app's other routes do not pay for it, so it
# joins this app; the wrapper spreads the requests over many clients (see cases.py).
@app.get("/limited", dependencies=[rate_limit(f"{RATE_LIMIT}/minute")])
async def limited() -> dict:
    return {"message": "Hello, World!"}


@app.get("/plaintext")
async def plaintext() -> PlainTextResponse:
    return PlainTextResponse(b"Hello, World!")


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@app.post("/pitems", status_code=201)
async def create_pitem(item: PItem) -> PItem:
    return item


async def get_conn():
    yield "conn"


async def get_repo(conn: Annotated[str, Depends(get_conn)]) -> dict:
    return {"conn": conn, "repo": "items"}


async def get_service(repo: Annotated[dict, Depends(get_repo)]) -> dict:
    return {"service": "svc", **repo}


@app.get("/deps")
async def deps(service: Annotated[dict, Depends(get_service)]) -> dict:
    return service


def _add_multipart() -> None:
    if Form is None:
        PENDING["multipart"] = f"carafe.Form not available ({_FORM_ERROR})"
        return

    @app.post("/form")
    async def form(name: Annotated[str, Form()], price: Annotated[float, Form()]) -> dict:
        return {"name": name, "price": price}

    SUPPORTED.add("multipart")


def _add_template() -> None:
    if Templates is None:
        PENDING["template"] = f"carafe.web.templating not available ({_TEMPLATES_ERROR})"
        return
    from jinja2 import DictLoader

    templates = Templates(
        loader=DictLoader({"page.html": PAGE_TEMPLATE, "fortunes.html": FORTUNES_TEMPLATE})
    )

    @app.get("/page")
    async def page(request: Request) -> HTMLResponse:
        return await templates.render(request, "page.html", name="World", items=PAGE_ITEMS)

    @app.get("/fortunes")
    async def fortunes(request: Request) -> HTMLResponse:
        return await templates.render(request, "fortunes.html", fortunes=sorted_fortunes())

    SUPPORTED.update({"template", "fortunes"})


def _session_app() -> Carafe | None:
    # A secret key turns sessions on for the whole app, so the session case gets its
    # own app, as the peers' session middleware does.
    if Session is None:
        PENDING["session"] = f"carafe.web.sessions not available ({_SESSION_ERROR})"
        return None
    sapp = Carafe(secret_key="bench-secret-key")

    @sapp.get("/session")
    async def session(session: Session) -> dict:
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"]}

    @sapp.get("/session/login")
    async def login(session: Session) -> dict:
        session.update(SESSION_DATA)
        return {}

    @sapp.get("/session/read")
    async def read(session: Session) -> dict:
        return {"user": session.get("user"), "visits": session.get("visits")}

    SUPPORTED.update({"session", "session_read"})
    return sapp


def _session_cookie(sapp: Carafe) -> bytes:
    from carafe.testing import TestClient

    with TestClient(sapp) as client:
        client.get("/session/login")
        return f"session={client.cookies['session']}".encode()


def _cache_app() -> Carafe:
    # The cache is middleware that looks at every request, so it gets its own app (with
    # the same other routes as the main one).
    capp = Carafe()
    _add_other_routes(capp)
    capp.add_middleware(ResponseCache, store=MemoryCache())
    calls = 0

    @capp.get("/cached", dependencies=[cache(60)])
    async def cached() -> dict:
        nonlocal calls
        calls += 1
        return {"message": "Hello, World!", "calls": calls}

    return capp


_add_multipart()
_add_template()
_session = _session_app()
CASE_APPS = (
    {"session": _session, "session_read": with_cookie(_session, _session_cookie(_session))}
    if _session is not None
    else {}
)
CASE_APPS["ratelimit"] = from_clients(app, RATE_LIMIT_CLIENTS)
CASE_APPS["cache_hit"] = _cache_app()
