"""Models for tests/test_openapi.py: an ``Item`` whose name clashes with openapi_models_a's."""

from __future__ import annotations

import msgspec
from pydantic import BaseModel


class Item(msgspec.Struct):
    """An item, as module b sees it."""

    sku: str


class Review(BaseModel):
    stars: float
