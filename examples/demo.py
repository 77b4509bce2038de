"""The demo app: ``./scripts/demo`` serves it on http://127.0.0.1:8000."""

from __future__ import annotations

import msgspec

from carafe import Carafe, HTMLResponse, HTTPError, Router

app = Carafe(title="Carafe demo")


class Item(msgspec.Struct):
    name: str
    price: float
    tags: list[str] = []


ITEMS: dict[int, Item] = {1: Item("kettle", 24.5, ["kitchen"])}


@app.get("/", response_class=HTMLResponse)
def index() -> str:
    return (
        "<!doctype html><title>Carafe</title><h1>Carafe is running</h1>"
        '<p>Try <a href="/items/1">/items/1</a> or <a href="/api/health">/api/health</a>.</p>'
    )


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> Item:
    """Read one item; a non-integer id is a 422."""
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPError(404, f"No item {item_id}")
    return item


@app.post("/items", status_code=201)
async def create_item(item: Item) -> dict[str, int]:
    """Add an item; the body is validated against ``Item``."""
    item_id = max(ITEMS, default=0) + 1
    ITEMS[item_id] = item
    return {"id": item_id}


api = Router(prefix="/api", tags=["api"])


@api.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}


app.include(api)


if __name__ == "__main__":
    app.run()
