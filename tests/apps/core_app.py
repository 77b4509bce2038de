"""A small app for tests that need a real server (``live_server("tests.apps.core_app:app")``)."""

from __future__ import annotations

from typing import Any

import msgspec

from carafe import Carafe, Limits, Request

app = Carafe(limits=Limits(max_body_size=64 * 1024))


class Item(msgspec.Struct):
    name: str
    price: float


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items")
async def create(item: Item) -> Item:
    return item


@app.post("/any")
async def anything(data: dict[str, Any]) -> int:
    return len(data)


@app.get("/items/{item_id}")
def read(item_id: int) -> dict[str, int]:
    return {"item_id": item_id}


@app.get("/search")
def search(q: str = "") -> dict[str, str]:
    return {"q": q}


@app.post("/headers")
async def headers(request: Request) -> dict[str, int]:
    body = await request.body()
    return {"headers": len(request.headers.raw), "body": len(body)}


@app.get("/url")
def url(request: Request) -> str:
    return str(request.url)


@app.get("/public/{rest:path}")
def public(rest: str) -> str:
    return rest
