"""FastAPI, written as its documentation teaches: pydantic models, Annotated, Depends."""

from __future__ import annotations

from typing import Annotated

from cases import FORTUNES_TEMPLATE, PAGE_ITEMS, PAGE_TEMPLATE, SESSION_DATA, sorted_fortunes
from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import PlainTextResponse
from fastapi.templating import Jinja2Templates
from jinja2 import DictLoader, Environment
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from apps import EXTRA_ROUTES, with_cookie

SUPPORTED = {
    "json",
    "plaintext",
    "path_query",
    "post_model",
    "post_pydantic",
    "deps",
    "multipart",
    "template",
    "session",
    "fortunes",
    "session_read",
}
PENDING: dict[str, str] = {}


class Item(BaseModel):
    name: str
    price: float
    tags: list[str] = []


app = FastAPI()
templates = Jinja2Templates(
    env=Environment(
        loader=DictLoader({"page.html": PAGE_TEMPLATE, "fortunes.html": FORTUNES_TEMPLATE}),
        autoescape=True,
    )
)


async def other() -> dict:
    return {}


async def other_id(id: int) -> dict:
    return {}


for _i in range(EXTRA_ROUTES):
    if _i % 2:
        app.add_api_route(f"/r{_i}/{{id}}", other_id)
    else:
        app.add_api_route(f"/r{_i}", other)


@app.get("/json")
async def json_() -> dict:
    return {"message": "Hello, World!"}


@app.get("/plaintext", response_class=PlainTextResponse)
async def plaintext() -> str:
    return "Hello, World!"


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}


@app.post("/items", status_code=201)
async def create_item(item: Item) -> Item:
    return item


@app.post("/pitems", status_code=201)
async def create_pitem(item: Item) -> Item:
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


@app.post("/form")
async def form(name: Annotated[str, Form()], price: Annotated[float, Form()]) -> dict:
    return {"name": name, "price": price}


@app.get("/page")
async def page(request: Request):
    return templates.TemplateResponse(request, "page.html", {"name": "World", "items": PAGE_ITEMS})


@app.get("/fortunes")
async def fortunes(request: Request):
    return templates.TemplateResponse(request, "fortunes.html", {"fortunes": sorted_fortunes()})


# Session middleware wraps every route, so the session case gets its own app: the other
# cases are not taxed for it.
session_app = FastAPI()
session_app.add_middleware(SessionMiddleware, secret_key="bench-secret-key")


@session_app.get("/session")
async def session(request: Request) -> dict:
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return {"visits": visits}


@session_app.get("/session/login")
async def login(request: Request) -> dict:
    request.session.update(SESSION_DATA)
    return {}


@session_app.get("/session/read")
async def read(request: Request) -> dict:
    return {"user": request.session.get("user"), "visits": request.session.get("visits")}


def _session_cookie() -> bytes:
    from fastapi.testclient import TestClient

    with TestClient(session_app) as client:
        client.get("/session/login")
        return f"session={client.cookies['session']}".encode()


CASE_APPS = {"session": session_app, "session_read": with_cookie(session_app, _session_cookie())}
