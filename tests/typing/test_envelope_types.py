"""Checked by ``mypy --strict``: an enveloped or paginated handler keeps its types."""

from typing import Annotated, assert_type

import msgspec

from carafe import Carafe
from carafe.envelopes import Envelope
from carafe.pagination import Cursor, CursorPage, LimitOffset, Page

app = Carafe(docs=None)


class Article(msgspec.Struct):
    slug: str


@app.get("/articles/{slug}")
def article(slug: str) -> Annotated[Article, Envelope("article")]:
    return Article(slug)


@app.get("/articles")
def articles(page: LimitOffset) -> Annotated[Page[Article], Envelope("articles", count="n")]:
    return Page(page.slice([Article("a")]), total=1)


@app.get("/feed")
def feed(page: Cursor) -> CursorPage[Article]:
    return CursorPage([], next=Cursor.encode(page.limit))


def test_handlers_keep_their_types() -> None:
    assert_type(article("a"), Article)
    assert_type(articles(LimitOffset()).items, list[Article])
    assert_type(feed(Cursor()).next, str | None)
    assert article("a").slug == "a"
