"""Starlette, as its users write it: a route table, hand validation, JSONResponse."""

from __future__ import annotations

from cases import PAGE_ITEMS, PAGE_TEMPLATE
from jinja2 import DictLoader, Environment
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from apps import EXTRA_ROUTES

SUPPORTED = {"json", "plaintext", "path_query", "post_model", "multipart", "template", "session"}
PENDING: dict[str, str] = {}

templates = Jinja2Templates(
    env=Environment(loader=DictLoader({"page.html": PAGE_TEMPLATE}), autoescape=True)
)


async def other(request: Request) -> JSONResponse:
    return JSONResponse({})


async def json_(request: Request) -> JSONResponse:
    return JSONResponse({"message": "Hello, World!"})


async def plaintext(request: Request) -> PlainTextResponse:
    return PlainTextResponse("Hello, World!")


async def read_item(request: Request) -> JSONResponse:
    # {item_id:int} makes the router reject non-digits with a 404, as Starlette users do.
    return JSONResponse(
        {"item_id": request.path_params["item_id"], "q": request.query_params.get("q")}
    )


def _invalid(msg: str) -> JSONResponse:
    return JSONResponse({"detail": msg}, status_code=422)


async def create_item(request: Request) -> JSONResponse:
    try:
        data = await request.json()
    except ValueError:
        return _invalid("body is not JSON")
    if not isinstance(data, dict):
        return _invalid("body must be an object")
    name, price, tags = data.get("name"), data.get("price"), data.get("tags", [])
    if not isinstance(name, str):
        return _invalid("name must be a string")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return _invalid("price must be a number")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _invalid("tags must be a list of strings")
    return JSONResponse({"name": name, "price": float(price), "tags": tags}, status_code=201)


async def form(request: Request) -> JSONResponse:
    async with request.form() as data:
        name, price = data.get("name"), data.get("price")
    if not isinstance(name, str) or not isinstance(price, str):
        return _invalid("name and price are required")
    try:
        return JSONResponse({"name": name, "price": float(price)})
    except ValueError:
        return _invalid("price must be a number")


async def page(request: Request):
    return templates.TemplateResponse(request, "page.html", {"name": "World", "items": PAGE_ITEMS})


routes = [Route(f"/r{i}/{{id:int}}" if i % 2 else f"/r{i}", other) for i in range(EXTRA_ROUTES)]
routes += [
    Route("/json", json_),
    Route("/plaintext", plaintext),
    Route("/items/{item_id:int}", read_item),
    Route("/items", create_item, methods=["POST"]),
    Route("/form", form, methods=["POST"]),
    Route("/page", page),
]
app = Starlette(routes=routes)


async def session(request: Request) -> JSONResponse:
    visits = request.session.get("visits", 0) + 1
    request.session["visits"] = visits
    return JSONResponse({"visits": visits})


session_app = Starlette(
    routes=[Route("/session", session)],
    middleware=[Middleware(SessionMiddleware, secret_key="bench-secret-key")],
)
CASE_APPS = {"session": session_app}
