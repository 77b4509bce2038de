"""Models for tests/test_openapi.py: an ``Item`` whose name clashes with openapi_models_b's."""

from __future__ import annotations

import msgspec
from pydantic import BaseModel


class Item(msgspec.Struct):
    """An item, as module a sees it."""

    name: str
    price: float


class Review(BaseModel):
    rating: int
