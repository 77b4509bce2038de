"""The app ``bench/production.py`` serves: endpoints that do some work, cached and not.

    GET /json           {"message": "Hello, World!"}
    GET /list           100 items built and serialized per request (msgspec Structs)
    GET /list/cached    the same, through ``ResponseCache`` (memory store, 60 s)
    GET /page           a Jinja2 page of 100 escaped rows, rendered per request
    GET /page/cached    the same, through ``ResponseCache``

``expected(path)`` is the body each must answer, for the checks made before timing.
"""

from __future__ import annotations

import json

import msgspec
from jinja2 import DictLoader

from carafe import Carafe, Request
from carafe.caching import MemoryCache, ResponseCache, cache
from carafe.responses import HTMLResponse
from carafe.web.templating import Templates

ROWS = 100

PAGE_TEMPLATE = (
    "<!DOCTYPE html><html><head><title>Catalogue</title></head><body><table>"
    "<tr><th>id</th><th>name</th><th>price</th><th>tags</th></tr>"
    "{% for item in items %}<tr><td>{{ item.id }}</td><td>{{ item.name }}</td>"
    "<td>{{ '%.2f' % item.price }}</td><td>{{ item.tags | join(', ') }}</td></tr>{% endfor %}"
    "</table></body></html>"
)


class Item(msgspec.Struct):
    id: int
    name: str
    price: float
    tags: list[str]


def items() -> list[Item]:
    """The work each uncached request does: build 100 items (a stand-in for rows)."""
    return [
        Item(id=i, name=f"Item <{i}> & co", price=i * 1.25, tags=["new", f"t{i % 7}"])
        for i in range(ROWS)
    ]


app = Carafe(docs=None)
app.add_middleware(ResponseCache, store=MemoryCache())
templates = Templates(loader=DictLoader({"page.html": PAGE_TEMPLATE}))


@app.get("/json")
async def json_() -> dict[str, str]:
    return {"message": "Hello, World!"}


@app.get("/list")
async def item_list() -> list[Item]:
    return items()


@app.get("/list/cached", dependencies=[cache(60)])
async def item_list_cached() -> list[Item]:
    return items()


@app.get("/page")
async def page(request: Request) -> HTMLResponse:
    return await templates.render(request, "page.html", items=items())


@app.get("/page/cached", dependencies=[cache(60)])
async def page_cached(request: Request) -> HTMLResponse:
    return await templates.render(request, "page.html", items=items())


def expected(path: str) -> tuple[str, bytes | object]:
    """(content type, body) for ``path``: JSON bodies as parsed values, HTML as bytes."""
    base = path.removesuffix("/cached")
    if base == "/json":
        return "application/json", {"message": "Hello, World!"}
    if base == "/list":
        return "application/json", json.loads(msgspec.json.encode(items()))
    from jinja2 import Environment

    env = Environment(loader=DictLoader({"page.html": PAGE_TEMPLATE}), autoescape=True)
    return "text/html", env.get_template("page.html").render(items=items()).encode()
