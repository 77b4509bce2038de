"""Pagination: the query parameters of a page, and the page sent back.

Annotate a parameter with ``LimitOffset`` or ``Cursor`` and it is read from the query
string like any parameter group, checked, and listed in the OpenAPI document::

    @app.get("/articles")
    async def articles(page: LimitOffset) -> Page[Article]:     # ?limit=20&offset=40
        rows = await db.articles(limit=page.limit, offset=page.offset)
        return Page(rows, total=await db.count_articles())

    @app.get("/feed")
    async def feed(page: Cursor) -> CursorPage[Article]:        # ?cursor=...&limit=20
        after = page.position or 0                              # what encode() was given
        rows = await db.articles_after(after, limit=page.limit)
        return CursorPage(rows, next=Cursor.encode(rows[-1].id) if rows else None)

``limit`` is 1 to 100 (default 20) and ``offset`` 0 to ``2**63 - 1`` (what a database
takes): ``?limit=-1`` is a 422 naming ``limit``. Other bounds: subclass and mark the
parameter ``Annotated[Mine, Query()]`` (only these two classes are read from the query
unmarked).

A cursor is opaque to clients: base64url-encoded JSON. It is checked when read, so a
truncated or altered cursor is a 422 naming ``cursor``, never a 500; it is not signed
or secret, so put in it only what a client may see and send back (the last id seen),
and treat ``position`` as the untrusted input it is.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated, Any, Generic, TypeVar

import msgspec

from carafe.exceptions import RequestValidationError

if TYPE_CHECKING:
    from carafe.extensions import Registry

__all__ = ["Cursor", "CursorPage", "LimitOffset", "Page", "PaginationExtension"]

T = TypeVar("T")

MAX_CURSOR_LENGTH = 512  # characters; a longer cursor is refused before it is decoded

Limit = Annotated[int, msgspec.Meta(ge=1, le=100, description="How many items, 1 to 100.")]
MAX_OFFSET = 2**63 - 1
"""The largest ``offset``: a signed 64-bit integer, what SQL databases take for ``OFFSET``
(a larger one would be a driver's overflow error, a 500, instead of a 422)."""
Offset = Annotated[int, msgspec.Meta(ge=0, le=MAX_OFFSET, description="How many items to skip.")]


class LimitOffset(msgspec.Struct, kw_only=True):
    """``?limit=&offset=``: a window of ``limit`` items after the first ``offset``.

    Attributes:
        limit: How many items, 1 to 100 (default 20).
        offset: How many items to skip (default 0, at most ``MAX_OFFSET``).
    """

    limit: Limit = 20
    offset: Offset = 0

    def slice(self, items: Sequence[T]) -> list[T]:
        """The window of ``items`` (already in memory) this page asks for.

        >>> LimitOffset(limit=2, offset=1).slice("abcd")
        ['b', 'c']
        """
        return list(items[self.offset : self.offset + self.limit])


class Page(msgspec.Struct, Generic[T]):
    """A page of items and how many there are in all: ``{"items": [...], "total": n}``."""

    items: list[T]
    total: int


_CURSOR = (
    Annotated[
        str,
        msgspec.Meta(max_length=MAX_CURSOR_LENGTH, description="Where the previous page ended."),
    ]
    | None
)


class Cursor(msgspec.Struct, kw_only=True):
    """``?cursor=&limit=``: ``limit`` items after the position a cursor encodes.

    Attributes:
        cursor: The cursor as sent (None for the first page).
        limit: How many items, 1 to 100 (default 20).
        position: What ``Cursor.encode`` was given for it (None for the first page).
    """

    cursor: _CURSOR = None
    limit: Limit = 20

    def __post_init__(self) -> None:
        if self.cursor is not None:
            _decode(self.cursor)  # a bad cursor is refused while the query is read

    @property
    def position(self) -> Any:
        return None if self.cursor is None else _decode(self.cursor)

    @staticmethod
    def encode(position: Any) -> str:
        """A cursor for ``position`` (any JSON-able value: an id, a ``[date, id]`` pair).

        >>> Cursor.encode(42)
        'NDI'
        """
        raw = msgspec.json.encode(position)
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(cursor: str) -> Any:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True)
        return msgspec.json.decode(raw)
    except (binascii.Error, ValueError, msgspec.DecodeError):
        # NOTE: raised from __post_init__, a ValueError would lose the field's name.
        raise RequestValidationError(
            [
                {
                    "loc": ["query", "cursor"],
                    "msg": "Invalid cursor: send one back as this API gave it",
                    "type": "value_error",
                }
            ]
        ) from None


class CursorPage(msgspec.Struct, Generic[T]):
    """A page of items and the cursor of the next: ``{"items": [...], "next": "..."}``
    (``next`` is null on the last page)."""

    items: list[T]
    next: str | None = None


class PaginationExtension:
    """Reads unmarked ``LimitOffset`` and ``Cursor`` parameters from the query string."""

    def install(self, registry: Registry) -> None:
        registry.typed_source(LimitOffset, "query")
        registry.typed_source(Cursor, "query")
