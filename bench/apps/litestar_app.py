"""Litestar, as its docs teach: decorated handlers, msgspec Structs, Provide for DI."""

from __future__ import annotations

from typing import Annotated

import msgspec
from cases import PAGE_ITEMS, PAGE_TEMPLATE, RATE_LIMIT, RATE_LIMIT_CLIENTS
from jinja2 import DictLoader, Environment
from litestar import Litestar, MediaType, Request, get, post
from litestar.config.response_cache import ResponseCacheConfig
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.params import Body
from litestar.response import Template
from litestar.template.config import TemplateConfig
from pydantic import BaseModel

from apps import EXTRA_ROUTES, from_clients

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


class FormData(msgspec.Struct):
    name: str
    price: float


def _others():
    handlers = []
    for i in range(EXTRA_ROUTES):
        if i % 2:

            async def other_id(id: int) -> dict:
                return {}

            handlers.append(get(f"/r{i}/{{id:int}}", name=f"r{i}")(other_id))
        else:

            async def other() -> dict:
                return {}

            handlers.append(get(f"/r{i}", name=f"r{i}")(other))
    return handlers


@get("/json")
async def json_() -> dict:
    return {"message": "Hello, World!"}


@get("/plaintext", media_type=MediaType.TEXT)
async def plaintext() -> str:
    return "Hello, World!"


@get("/items/{item_id:int}")
async def read_item(item_id: int, q: str | None = None) -> dict:
    return {"item_id": item_id, "q": q}


@post("/items")
async def create_item(data: Item) -> Item:
    return data


@post("/pitems")
async def create_pitem(data: PItem) -> PItem:
    return data


async def get_conn():
    yield "conn"


async def get_repo(conn: str) -> dict:
    return {"conn": conn, "repo": "items"}


async def get_service(repo: dict) -> dict:
    return {"service": "svc", **repo}


@get(
    "/deps",
    dependencies={
        "conn": Provide(get_conn),
        "repo": Provide(get_repo),
        "service": Provide(get_service),
    },
)
async def deps(service: dict) -> dict:
    return service


@post("/form", status_code=200)
async def form(
    data: Annotated[FormData, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> dict:
    return {"name": data.name, "price": data.price}


@get("/page")
async def page() -> Template:
    return Template(template_name="page.html", context={"name": "World", "items": PAGE_ITEMS})


_env = Environment(loader=DictLoader({"page.html": PAGE_TEMPLATE}), autoescape=True)
app = Litestar(
    route_handlers=[
        *_others(),
        json_,
        plaintext,
        read_item,
        create_item,
        create_pitem,
        deps,
        form,
        page,
    ],
    template_config=TemplateConfig(instance=JinjaTemplateEngine.from_environment(_env)),
)


@get("/session")
async def session(request: Request) -> dict:
    visits = request.session.get("visits", 0) + 1
    request.set_session({"visits": visits})
    return {"visits": visits}


def _session_app() -> Litestar | None:
    # Litestar's cookie sessions need its 'cryptography' extra; without it only this case
    # is lost, not the module.
    try:
        from litestar.middleware.session.client_side import CookieBackendConfig
    except Exception as exc:
        PENDING["session"] = f"litestar cookie sessions unavailable: {exc}"
        SUPPORTED.discard("session")
        return None
    return Litestar(
        route_handlers=[session],
        middleware=[CookieBackendConfig(secret=b"bench-secret-key-0123456789abcde").middleware],
    )


_session = _session_app()
CASE_APPS = {"session": _session} if _session is not None else {}


@get("/limited")
async def limited() -> dict:
    return {"message": "Hello, World!"}


_calls = 0


@get("/cached", cache=True)
async def cached() -> dict:
    global _calls
    _calls += 1
    return {"message": "Hello, World!", "calls": _calls}


# Litestar's rate limit is middleware over the whole app, and its response cache a
# setting of the app, so each case gets its own app with the same other routes; the
# stores are Litestar's defaults (in memory).
_limited = Litestar(
    route_handlers=[*_others(), limited],
    middleware=[RateLimitConfig(rate_limit=("minute", RATE_LIMIT)).middleware],
)
CASE_APPS["ratelimit"] = from_clients(_limited, RATE_LIMIT_CLIENTS)
CASE_APPS["cache_hit"] = Litestar(
    route_handlers=[*_others(), cached], response_cache_config=ResponseCacheConfig()
)
