"""A small typed API, documented by its own code: ``carafe run examples.api:app``,
then open http://127.0.0.1:8000/docs (or /redoc, /scalar).

Items are msgspec Structs kept in memory; reviews are pydantic models; a contact form
is read from a urlencoded body; writing and deleting need an OAuth2 token with the
right scope. Log in (Swagger UI's "Authorize") as ``alice`` / ``wonderland``.
"""

from __future__ import annotations

import secrets
from typing import Annotated, Generic, TypeVar

import msgspec
from pydantic import BaseModel, Field

from carafe import Carafe, HTTPError, Query, Router
from carafe.di import Depends
from carafe.forms import Form
from carafe.openapi import DocsConfig
from carafe.security import (
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    Security,
    SecurityScopes,
)

app = Carafe(
    title="Carafe example API",
    version="1.0.0",
    description="Items, reviews and a contact form, with OAuth2 for the writes.",
    docs=DocsConfig(
        scalar_url="/scalar",
        tags=[
            {"name": "items", "description": "The catalogue."},
            {"name": "reviews", "description": "What buyers say (pydantic models)."},
            {"name": "auth", "description": "OAuth2 password flow."},
        ],
    ),
)

T = TypeVar("T")
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50, examples=["kettle"])]
Price = Annotated[float, msgspec.Meta(ge=0, le=1_000_000, examples=[24.5])]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=20)]


class ItemIn(msgspec.Struct, forbid_unknown_fields=True):
    """What a client sends to create or replace an item."""

    name: Name
    price: Price
    tags: Annotated[list[Tag], msgspec.Meta(max_length=10)] = []


class Item(msgspec.Struct):
    """An item in the catalogue."""

    id: int
    name: str
    price: float
    tags: list[str] = []


class Page(msgspec.Struct, Generic[T]):
    """One page of a longer list."""

    items: list[T]
    total: int
    offset: int
    limit: int


class User(msgspec.Struct):
    username: str
    scopes: list[str]


class Token(msgspec.Struct):
    access_token: str
    token_type: str = "bearer"


class ContactReceipt(msgspec.Struct):
    received: bool
    reply_to: str


class Review(BaseModel):
    item_id: int = Field(ge=1)
    rating: int = Field(ge=1, le=5, description="Stars, 1 to 5")
    comment: str = Field(default="", max_length=500)


class ReviewOut(Review):
    id: int


ITEMS: dict[int, Item] = {1: Item(1, "kettle", 24.5, ["kitchen"])}
REVIEWS: list[ReviewOut] = []
MAX_ITEMS = 1000

# NOTE: a demo user table and opaque tokens in memory; a real app checks a password
# hash and issues signed, expiring tokens.
USERS = {"alice": ("wonderland", ["items:write", "me"])}
TOKENS: dict[str, User] = {}

oauth2 = OAuth2PasswordBearer(
    token_url="/token",
    scopes={"items:write": "Create, change and delete items", "me": "Read your profile"},
)


async def current_user(security_scopes: SecurityScopes, token: str = Depends(oauth2)) -> User:
    """The user the bearer token belongs to, holding every scope the route requires."""
    user = TOKENS.get(token)
    if user is None:
        raise HTTPError(401, "Unknown or expired token", {"WWW-Authenticate": "Bearer"})
    security_scopes.check(user.scopes)
    return user


# A type alias keeps the requirement in one place.
Writer = Annotated[User, Security(current_user, scopes=["items:write"])]

# --- Items ----------------------------------------------------------------------------

items = Router(prefix="/items", tags=["items"])
NOT_FOUND = {404: {"description": "No item has that id"}}


def _get(item_id: int) -> Item:
    item = ITEMS.get(item_id)
    if item is None:
        raise HTTPError(404, f"No item has the id {item_id}.")
    return item


@items.get("")
async def list_items(
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=100, description="Items per page")] = 20,
    q: Annotated[str | None, Query(max_length=50, description="Part of the name")] = None,
) -> Page[Item]:
    """List items, a page at a time.

    ``q`` keeps the items whose name contains it (case-insensitive).
    """
    found = [i for i in ITEMS.values() if q is None or q.lower() in i.name.lower()]
    return Page(found[offset : offset + limit], len(found), offset, limit)


@items.get("/{item_id}", responses=NOT_FOUND)
async def read_item(item_id: int) -> Item:
    """Read one item."""
    return _get(item_id)


@items.post("", status_code=201, responses={409: {"description": "The catalogue is full"}})
async def create_item(item: ItemIn) -> Item:
    """Add an item."""
    if len(ITEMS) >= MAX_ITEMS:
        raise HTTPError(409, "The catalogue is full.")
    item_id = max(ITEMS, default=0) + 1
    ITEMS[item_id] = Item(item_id, item.name, item.price, item.tags)
    return ITEMS[item_id]


@items.put("/{item_id}", responses=NOT_FOUND)
async def replace_item(item_id: int, item: ItemIn, user: Writer) -> Item:
    """Replace an item (needs the ``items:write`` scope)."""
    _get(item_id)
    ITEMS[item_id] = Item(item_id, item.name, item.price, item.tags)
    return ITEMS[item_id]


@items.delete("/{item_id}", status_code=204, responses=NOT_FOUND)
async def delete_item(item_id: int, user: Writer) -> None:
    """Delete an item (needs the ``items:write`` scope)."""
    _get(item_id)
    del ITEMS[item_id]


@items.get("/search/legacy", deprecated=True)
async def legacy_search(name: Annotated[str, Query(min_length=1, max_length=50)]) -> list[Item]:
    """Find items by exact name. Deprecated: use ``GET /items?q=``."""
    return [item for item in ITEMS.values() if item.name == name]


app.include(items)

# --- Reviews (pydantic) ---------------------------------------------------------------


@app.post("/reviews", status_code=201, tags=["reviews"], responses=NOT_FOUND)
async def create_review(review: Review) -> ReviewOut:
    """Review an item."""
    _get(review.item_id)
    saved = ReviewOut(id=len(REVIEWS) + 1, **review.model_dump())
    REVIEWS.append(saved)
    del REVIEWS[:-100]  # keep the demo's memory bounded
    return saved


# --- A form ---------------------------------------------------------------------------


@app.post("/contact", tags=["contact"])
async def contact(
    email: Annotated[str, Form(min_length=3, max_length=100, pattern="^[^@ ]+@[^@ ]+$")],
    message: Annotated[str, Form(min_length=1, max_length=2000)],
) -> ContactReceipt:
    """Send us a message (a urlencoded form)."""
    return ContactReceipt(True, email)


# --- Auth -----------------------------------------------------------------------------


@app.post("/token", tags=["auth"], responses={401: {"description": "Wrong user or password"}})
async def login(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Token:
    """Trade a username and password for a bearer token."""
    known = USERS.get(form.username)
    if known is None or not secrets.compare_digest(known[0], form.password):
        raise HTTPError(401, "Wrong username or password", {"WWW-Authenticate": "Bearer"})
    granted = [scope for scope in form.scopes if scope in known[1]] or known[1]
    token = secrets.token_urlsafe(24)
    TOKENS[token] = User(form.username, granted)
    return Token(token)


@app.get("/me", tags=["auth"])
async def me(user: Annotated[User, Security(current_user, scopes=["me"])]) -> User:
    """Who the token belongs to."""
    return user
