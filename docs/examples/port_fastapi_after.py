"""port_fastapi_before.py, ported to Carafe: the imports change, the code does not.

The pydantic models stay (``pip install 'carafe[pydantic]'``); ``HTTPException`` becomes
``HTTPError``, ``APIRouter`` ``Router`` and ``include_router`` ``include``. What clients
see differs only in the error bodies: problem+json, with the same ``detail`` and, for
bad input, the same ``loc`` entries under ``errors``.
"""

from collections.abc import Iterator
from typing import Annotated

from pydantic import BaseModel, Field

from carafe import BackgroundTasks, Carafe, Depends, Header, HTTPError, Query, Router


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
    yield STORE


def api_key(x_api_key: Annotated[str, Header()]) -> str:
    if x_api_key != "s3cret":
        raise HTTPError(401, "Wrong API key")
    return x_api_key


StoreDep = Annotated[Store, Depends(get_store)]
router = Router(prefix="/api", tags=["items"])


@router.get("/items")
def list_items(store: StoreDep, limit: Annotated[int, Query(ge=1, le=100)] = 10) -> list[Item]:
    return list(store.items.values())[:limit]


@router.get("/items/{item_id}")
def read_item(item_id: int, store: StoreDep) -> Item:
    if item_id not in store.items:
        raise HTTPError(404, f"No item {item_id}")
    return store.items[item_id]


@router.post("/items", status_code=201, dependencies=[Depends(api_key)])
def create_item(new: ItemIn, store: StoreDep, tasks: BackgroundTasks) -> Item:
    item = Item(id=max(store.items) + 1, **new.model_dump())
    store.items[item.id] = item
    tasks.add(store.log.append, f"created {item.name}")  # FastAPI: add_task
    return item


app = Carafe(title="Shop")
app.include(router)
