"""A small FastAPI service: the app docs/coming-from-fastapi.md ports to Carafe
(port_fastapi_after.py).

pydantic models, a router with a prefix, a ``yield`` dependency for the store, a
``Query`` with bounds, an API key header, ``HTTPException`` and a background task.
tests/test_ports.py sends the same requests to both and compares the answers.
"""

from collections.abc import Iterator
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, FastAPI, Header, HTTPException, Query
from pydantic import BaseModel, Field


class ItemIn(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    price: float = Field(gt=0)


class Item(ItemIn):
    id: int


class Store:
    def __init__(self) -> None:
        self.items: dict[int, Item] = {1: Item(id=1, name="cup", price=3.0)}
        self.log: list[str] = []


STORE = Store()


def get_store() -> Iterator[Store]:
    yield STORE  # a real app would open a connection here and close it after


def api_key(x_api_key: Annotated[str, Header()]) -> str:
    if x_api_key != "s3cret":
        raise HTTPException(401, detail="Wrong API key")
    return x_api_key


StoreDep = Annotated[Store, Depends(get_store)]
router = APIRouter(prefix="/api", tags=["items"])


@router.get("/items")
def list_items(store: StoreDep, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[Item]:
    return list(store.items.values())[:limit]


@router.get("/items/{item_id}")
def read_item(item_id: int, store: StoreDep) -> Item:
    if item_id not in store.items:
        raise HTTPException(404, detail=f"No item {item_id}")
    return store.items[item_id]


@router.post("/items", status_code=201, dependencies=[Depends(api_key)])
def create_item(new: ItemIn, store: StoreDep, tasks: BackgroundTasks) -> Item:
    item = Item(id=max(store.items) + 1, **new.model_dump())
    store.items[item.id] = item
    tasks.add_task(store.log.append, f"created {item.name}")
    return item


app = FastAPI(title="Shop")
app.include_router(router)
