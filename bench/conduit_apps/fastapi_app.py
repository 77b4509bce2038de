"""Conduit's two article reads on FastAPI + SQLAlchemy (asyncpg), as FastAPI users write it."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from examples.conduit import services
from fastapi import Depends, FastAPI, HTTPException, Query
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from carafe.db import database_urls, engine_options

URL = database_urls(os.environ["CONDUIT_DATABASE_URL"])[0]
engine = create_async_engine(URL, **engine_options(URL, {}))  # carafe.db's pool, as Carafe's
sessions = async_sessionmaker(engine, expire_on_commit=False)


async def get_session() -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session
        await session.commit()


class Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class ProfileOut(Camel):
    username: str
    bio: str | None
    image: str | None
    following: bool


class ArticleSummaryOut(Camel):
    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    favorited: bool
    favorites_count: int
    author: ProfileOut


class ArticleOut(ArticleSummaryOut):
    body: str


class ArticlesOut(Camel):
    articles: list[ArticleSummaryOut]
    articles_count: int


class OneArticleOut(Camel):
    article: ArticleOut


def utc(moment: dt.datetime) -> dt.datetime:
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def article_out(row: Any, model: type[ArticleSummaryOut] = ArticleOut) -> Any:
    extra = {"body": row.body} if model is ArticleOut else {}
    return model(
        **extra,
        slug=row.slug,
        title=row.title,
        description=row.description,
        tag_list=sorted(row.tag_list or ()),
        created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
        favorited=bool(row.favorited),
        favorites_count=int(row.favorites_count),
        author=ProfileOut(
            username=row.username, bio=row.bio, image=row.image, following=bool(row.following)
        ),
    )


app = FastAPI()
Session = Annotated[AsyncSession, Depends(get_session)]


@app.get("/api/articles", response_model=ArticlesOut, response_model_by_alias=True)
async def list_articles(
    session: Session,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> ArticlesOut:
    filters = {"tag": tag, "author": author, "favorited": favorited}
    page = services.article_page(None, limit=limit, offset=offset, **filters)
    connection = await session.connection()  # column rows: the example's Core path too
    rows = (await connection.execute(*page)).all()
    if rows:
        total = rows[0].total
    else:  # past the end: the example's fallback count
        total = (await connection.execute(*services.article_count(**filters))).scalar()
    articles = [article_out(row, ArticleSummaryOut) for row in rows]
    return ArticlesOut(articles=articles, articles_count=total or 0)


@app.get("/api/articles/{slug}", response_model=OneArticleOut, response_model_by_alias=True)
async def get_article(slug: str, session: Session) -> OneArticleOut:
    connection = await session.connection()
    row = (await connection.execute(*services.article_by_slug(None, slug))).first()
    if row is None:
        raise HTTPException(404, "article not found")
    return OneArticleOut(article=article_out(row))
