"""An inventory API: pydantic models, an app-scoped pool, yield dependencies, a view.

Run it with ``carafe run docs.examples.inventory:app``; tests/test_views.py drives it.
"""

from collections.abc import AsyncIterator
from typing import Annotated, ClassVar

from pydantic import BaseModel, Field

from carafe import Carafe, Depends, Header, HTTPError, Query
from carafe.routing.router import RouteOptions


class ItemIn(BaseModel):
    name: str = Field(min_length=1)
    price: float = Field(gt=0)
    tags: list[str] = []


class ItemOut(BaseModel):
    id: int
    name: str
    price: float


class Page(BaseModel):
    limit: int = Field(10, ge=1, le=100)
    offset: int = Field(0, ge=0)
    tag: str | None = None


class Pool:
    """Stands in for a database pool: opened once, closed at shutdown."""

    def __init__(self) -> None:
        self.rows: dict[int, dict[str, object]] = {}
        self.open = True
        self.transactions = 0


async def make_pool() -> AsyncIterator[Pool]:
    pool = Pool()
    yield pool  # created at startup, once for the app
    pool.open = False  # runs at shutdown


async def transaction(
    pool: Annotated[Pool, Depends(make_pool, scope="app")],
) -> AsyncIterator[Pool]:
    pool.transactions += 1
    try:
        yield pool  # commit here, before the response: the next request sees the write
    finally:
        pool.transactions -= 1


def editor(x_editor: Annotated[str | None, Header()] = None) -> str:
    if not x_editor:
        raise HTTPError(401, "Send an X-Editor header to change the inventory.")
    return x_editor


app = Carafe(title="Inventory")


@app.get("/items")
async def list_items(
    page: Annotated[Page, Query()],
    pool: Annotated[Pool, Depends(make_pool, scope="app")],
) -> list[ItemOut]:
    rows = [r for r in pool.rows.values() if page.tag is None or page.tag in r["tags"]]  # type: ignore[operator]
    return rows[page.offset : page.offset + page.limit]  # type: ignore[return-value]  # filtered


@app.get("/health")
async def health(pool: Annotated[Pool, Depends(make_pool, scope="app")]) -> dict[str, object]:
    return {"pool_open": pool.open, "transactions": pool.transactions}


@app.view("/items/{item_id}")
class ItemView:
    """One item; every method gets the path parameter and a transaction."""

    item_id: int
    db: Annotated[Pool, Depends(transaction, scope="function")]
    method_options: ClassVar[dict[str, RouteOptions]] = {
        "put": {"status_code": 201},
        "delete": {"status_code": 204},
    }

    def row(self) -> dict[str, object]:
        if self.item_id not in self.db.rows:
            raise HTTPError(404, f"There is no item {self.item_id}.")
        return self.db.rows[self.item_id]

    async def get(self) -> ItemOut:
        """Read one item."""
        return ItemOut.model_validate(self.row())

    async def put(self, item: ItemIn, who: Annotated[str, Depends(editor)]) -> ItemOut:
        """Create or replace an item."""
        self.db.rows[self.item_id] = {"id": self.item_id, **item.model_dump(), "by": who}
        return ItemOut.model_validate(self.db.rows[self.item_id])

    async def delete(self, who: Annotated[str, Depends(editor)]) -> None:
        self.row()
        del self.db.rows[self.item_id]
