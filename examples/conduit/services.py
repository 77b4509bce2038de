"""Conduit's queries and rules, free of HTTP: the JSON API and the pages both call these.

Every function takes the request's ``AsyncSession`` and, where it matters, the ``viewer``
(the logged-in ``User``, or None): ``favorited`` and ``following`` are the viewer's. The
caller commits; a rule broken raises one of::

    ConduitError
     ├── NotFound     no such user, article or comment
     ├── Forbidden    the viewer may not change it (not the author)
     └── Invalid      a field's value is refused (``field``, ``message``): a name taken

The views returned (``Profile``, ``ArticleView``, ``CommentView``) are msgspec structs
whose attributes are snake_case (``article.tag_list``) and whose JSON is camelCase
(``"tagList"``), as the RealWorld spec has it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import re
import secrets
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec
from msgspec import UNSET, UnsetType
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    ColumnElement,
    Insert,
    Integer,
    Select,
    String,
    TypeDecorator,
    bindparam,
    delete,
    exists,
    false,
    func,
    insert,
    select,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import aliased, joinedload, selectinload
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import TypeEngine

from examples.conduit.auth import hash_password, verify_password
from examples.conduit.models import (
    Article,
    Comment,
    Tag,
    User,
    article_tags,
    favorites,
    follows,
)

__all__ = [
    "ArticleSummary",
    "ArticleView",
    "CommentView",
    "ConduitError",
    "Forbidden",
    "Invalid",
    "NotFound",
    "Profile",
    "add_comment",
    "article",
    "article_by_slug",
    "article_count",
    "article_page",
    "article_summaries",
    "article_view",
    "authenticate",
    "comments",
    "create_article",
    "delete_article",
    "delete_comment",
    "favorite",
    "feed",
    "follow",
    "list_articles",
    "profile",
    "register",
    "slugify",
    "tags",
    "unfavorite",
    "unfollow",
    "update_article",
    "update_user",
    "user_by_id",
]


# --- Errors --------------------------------------------------------------------------


class ConduitError(Exception):
    """A rule of Conduit's refused the request."""


class NotFound(ConduitError):
    """No such user, article or comment (``str()`` says which)."""


class Forbidden(ConduitError):
    """Only the author may change or delete this."""


class Invalid(ConduitError):
    """A field's value is refused, e.g. ``Invalid("username", "has already been taken")``."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field} {message}")


# --- Views ---------------------------------------------------------------------------


class Profile(msgspec.Struct, rename="camel"):
    """A user as others see them."""

    username: str
    bio: str | None
    image: str | None
    following: bool


class ArticleSummary(msgspec.Struct, rename="camel", kw_only=True):
    """An article in a list: everything but its body."""

    slug: str
    title: str
    description: str
    tag_list: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    favorited: bool
    favorites_count: int
    author: Profile


class ArticleView(ArticleSummary, kw_only=True):
    """One article, with its body."""

    body: str


class CommentView(msgspec.Struct, rename="camel"):
    """A comment on an article."""

    id: int
    created_at: dt.datetime
    updated_at: dt.datetime
    body: str
    author: Profile


def _utc(moment: dt.datetime) -> dt.datetime:
    """SQLite gives naive datetimes back: they were written in UTC."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- Users and profiles --------------------------------------------------------------


async def user_by_id(session: AsyncSession, user_id: int) -> User | None:
    """The user with this id, or None (an account deleted since its token was made)."""
    return await session.get(User, user_id)


async def _user_named(session: AsyncSession, username: str) -> User:
    user = await session.scalar(select(User).where(User.username == username))
    if user is None:
        raise NotFound(f"No user named {username!r}")
    return user


async def _check_free(
    session: AsyncSession, *, username: str | None, email: str | None, besides: int | None
) -> None:
    for field, column, value in (
        ("username", User.username, username),
        ("email", User.email, email),
    ):
        if value is None:
            continue
        taken = select(User.id).where(column == value)
        if besides is not None:
            taken = taken.where(User.id != besides)
        if await session.scalar(taken) is not None:
            raise Invalid(field, "has already been taken")


async def _flush_user(session: AsyncSession) -> None:
    """Flush, turning a unique constraint lost to a concurrent request into ``Invalid``."""
    try:
        await session.flush()
    except IntegrityError as error:
        field = "email" if "email" in str(error.orig).lower() else "username"
        raise Invalid(field, "has already been taken") from None


# Password hashing has threads of its own, two: scrypt takes 16 MiB and some 50 ms a
# hash, and on asyncio's default executor each of its threads (cores + 4) kept its
# 16 MiB (bench/soak.py --conduit showed the steps); two threads also bound the CPU that
# a burst of sign-ins can take from the rest of the process.
_HASHING = concurrent.futures.ThreadPoolExecutor(2, thread_name_prefix="conduit-scrypt")


async def _hashing(fn: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.get_running_loop().run_in_executor(_HASHING, fn, *args)


async def register(session: AsyncSession, username: str, email: str, password: str) -> User:
    """A new account; ``Invalid`` if the username or the email is taken."""
    await _check_free(session, username=username, email=email, besides=None)
    user = User(
        username=username,
        email=email,
        password_hash=await _hashing(hash_password, password),
    )
    session.add(user)
    await _flush_user(session)
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User | None:
    """The user with this email and password, or None."""
    user = await session.scalar(select(User).where(User.email == email))
    if user is None:
        await _hashing(hash_password, password)  # as slow as a wrong password
        return None
    if not await _hashing(verify_password, password, user.password_hash):
        return None
    return user


async def update_user(
    session: AsyncSession,
    user: User,
    *,
    email: str | UnsetType = UNSET,
    username: str | UnsetType = UNSET,
    password: str | UnsetType = UNSET,
    bio: str | UnsetType | None = UNSET,
    image: str | UnsetType | None = UNSET,
) -> User:
    """Change the fields given (``UNSET`` keeps one); ``Invalid`` if a new name is taken."""
    await _check_free(
        session,
        username=None if username is UNSET else username,
        email=None if email is UNSET else email,
        besides=user.id,
    )
    if not isinstance(email, UnsetType):
        user.email = email
    if not isinstance(username, UnsetType):
        user.username = username
    if not isinstance(password, UnsetType):
        user.password_hash = await _hashing(hash_password, password)
    if not isinstance(bio, UnsetType):
        user.bio = bio
    if not isinstance(image, UnsetType):
        user.image = image
    await _flush_user(session)
    return user


async def _insert_once(session: AsyncSession, statement: Insert) -> None:
    """Insert a row that a concurrent request may have inserted a moment ago: in a
    savepoint, so that losing the race to the primary key changes nothing."""
    with contextlib.suppress(IntegrityError):
        async with session.begin_nested():
            await session.execute(statement)


def _follows(viewer: User | None, user_id: Any) -> ColumnElement[bool]:
    """SQL: does the viewer follow the user whose id is ``user_id``?"""
    if viewer is None:
        return false()
    return exists().where(follows.c.follower_id == viewer.id, follows.c.followed_id == user_id)


async def _is_following(session: AsyncSession, viewer: User | None, user: User) -> bool:
    if viewer is None:
        return False
    return bool(await session.scalar(select(_follows(viewer, user.id))))


def _profile(user: User, following: bool) -> Profile:
    return Profile(user.username, user.bio, user.image, following)


async def profile(session: AsyncSession, viewer: User | None, username: str) -> Profile:
    """The profile of ``username`` as ``viewer`` sees it; ``NotFound`` if there is none."""
    user = await _user_named(session, username)
    return _profile(user, await _is_following(session, viewer, user))


async def follow(session: AsyncSession, viewer: User, username: str) -> Profile:
    """``viewer`` follows ``username`` (again is harmless); not themselves: ``Invalid``."""
    user = await _user_named(session, username)
    if user.id == viewer.id:
        raise Invalid("username", "is you; you cannot follow yourself")
    if not await _is_following(session, viewer, user):
        await _insert_once(
            session, insert(follows).values(follower_id=viewer.id, followed_id=user.id)
        )
    return _profile(user, True)


async def unfollow(session: AsyncSession, viewer: User, username: str) -> Profile:
    """``viewer`` stops following ``username`` (if they did)."""
    user = await _user_named(session, username)
    await session.execute(
        delete(follows).where(follows.c.follower_id == viewer.id, follows.c.followed_id == user.id)
    )
    return _profile(user, False)


# --- Articles ------------------------------------------------------------------------

SLUG_BASE_MAX = 80  # characters of the title kept in a slug, before its suffix


def slugify(title: str) -> str:
    """The readable part of a title's slug: ASCII when the title folds to ASCII without
    losing a letter, else its own letters (lowercased, NFKC).

    >>> slugify("How to train your dragon?"), slugify("Crème brûlée"), slugify("東京 2024")
    ('how-to-train-your-dragon', 'creme-brulee', '東京-2024')
    >>> slugify("!!!")
    'article'
    """
    folded = "".join(
        c for c in unicodedata.normalize("NFKD", title) if not unicodedata.combining(c)
    )
    if all(c.isascii() for c in folded if c.isalnum()):
        words = re.findall(r"[a-z0-9]+", folded.lower())
    else:
        words = re.findall(r"[^\W_]+", unicodedata.normalize("NFKC", title).lower())
    return "-".join(words)[:SLUG_BASE_MAX].strip("-") or "article"


async def _new_slug(session: AsyncSession, title: str) -> str:
    """``slugify(title)`` and a short random suffix no other article has."""
    base = slugify(title)
    while True:
        slug = f"{base}-{secrets.token_hex(3)}"
        if await session.scalar(select(Article.id).where(Article.slug == slug)) is None:
            return slug


async def _tags_named(session: AsyncSession, names: Sequence[str]) -> list[Tag]:
    """The tags with these names, the missing ones created (one savepoint each, so a tag
    another request has just created is found instead of failing this one)."""
    wanted = list(dict.fromkeys(names))
    if not wanted:
        return []
    found = {t.name: t for t in await session.scalars(select(Tag).where(Tag.name.in_(wanted)))}
    for name in wanted:
        if name in found:
            continue
        tag = Tag(name=name)
        try:
            async with session.begin_nested():
                session.add(tag)
        except IntegrityError:
            existing = await session.scalar(select(Tag).where(Tag.name == name))
            assert existing is not None
            tag = existing
        found[name] = tag
    return [found[name] for name in wanted]


# --- Article reads ----------------------------------------------------------------------
#
# PERF: the statements are built once per shape (a viewer or none, which filters) with
# bind parameters, and rows are plain columns rather than ORM objects. Building the
# select per request took about 0.5 ms of a 1.7 ms single-article request, and building
# twenty Article and User objects with their tags about 2 ms of a page (bench/conduit.py).
# They are public so that bench/conduit.py's FastAPI and Flask peers run the very same
# queries: each function returns (statement, parameters).

Statement = tuple[Select[*tuple[Any, ...]], dict[str, Any]]
_FILTERS = ("tag", "author", "favorited", "followed_by")


class _Names(TypeDecorator[list[str]]):
    """A list of names from the database: PostgreSQL's ``text[]`` (asyncpg and psycopg
    decode it themselves), a JSON array elsewhere."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(String()))
        return dialect.type_descriptor(JSON())


class _names_of(FunctionElement[list[str]]):
    """The names aggregated into one list: ``array_agg`` on PostgreSQL,
    ``json_group_array`` on SQLite. SQLAlchemy has no portable aggregate to a list."""

    type = _Names()
    inherit_cache = True
    name = "names_of"


@compiles(_names_of)
def _json_group_array(element: _names_of, compiler: Any, **kw: Any) -> str:
    return f"json_group_array({compiler.process(element.clauses, **kw)})"


@compiles(_names_of, "postgresql")
def _array_agg(element: _names_of, compiler: Any, **kw: Any) -> str:
    return f"array_agg({compiler.process(element.clauses, **kw)})"


# Each article's tag names, in the article's row: no second query for a page's tags.
# PostgreSQL's array_agg over no row is NULL, SQLite's json_group_array is [].
_TAG_NAMES = (
    select(_names_of(Tag.name))
    .select_from(article_tags.join(Tag, Tag.id == article_tags.c.tag_id))
    .where(article_tags.c.article_id == Article.id)
    .correlate(Article)
    .scalar_subquery()
)


def _articles(viewing: bool, *, body: bool = False) -> Select[*tuple[Any, ...]]:
    """Article rows: the article's (its body only with ``body``: lists show none) and
    its author's columns, its tag names (a list), the favourites count, and
    (``viewing``: for ``:viewer_id``) whether the viewer favourited it and follows its
    author: one query for a whole page."""
    count = (
        select(func.count())
        .select_from(favorites)
        .where(favorites.c.article_id == Article.id)
        .correlate(Article)
        .scalar_subquery()
    )
    viewer = bindparam("viewer_id", type_=Integer)
    favorited: ColumnElement[bool] = false()
    following: ColumnElement[bool] = false()
    if viewing:
        favorited = exists().where(
            favorites.c.article_id == Article.id, favorites.c.user_id == viewer
        )
        following = exists().where(
            follows.c.follower_id == viewer, follows.c.followed_id == Article.author_id
        )
    return select(
        Article.id,
        Article.slug,
        Article.title,
        Article.description,
        *([Article.body] if body else []),
        Article.created_at,
        Article.updated_at,
        User.username,
        User.bio,
        User.image,
        _TAG_NAMES.label("tag_list"),
        count.label("favorites_count"),
        favorited.label("favorited"),
        following.label("following"),
    ).join(User, User.id == Article.author_id)


def _where(filters: tuple[str, ...], article: Any = Article) -> list[ColumnElement[bool]]:
    """The ``WHERE`` clauses on ``article`` for the named filters, each on its bind
    parameter."""
    fan, writer = aliased(User), aliased(User)
    clauses: dict[str, Callable[[], ColumnElement[bool]]] = {
        "tag": lambda: article.tags.any(Tag.name == bindparam("tag")),
        "author": lambda: article.author_id.in_(
            select(writer.id).where(writer.username == bindparam("author"))
        ),
        "favorited": lambda: article.id.in_(
            select(favorites.c.article_id)
            .join(fan, fan.id == favorites.c.user_id)
            .where(fan.username == bindparam("favorited"))
        ),
        "followed_by": lambda: article.author_id.in_(
            select(follows.c.followed_id).where(
                follows.c.follower_id == bindparam("followed_by", type_=Integer)
            )
        ),
    }
    return [clauses[name]() for name in filters]


@functools.cache
def _page_statement(viewing: bool, filters: tuple[str, ...]) -> Select[*tuple[Any, ...]]:
    # PERF: the count rides along as an uncorrelated subquery (PostgreSQL and SQLite
    # run it once): one round trip for a page and its total, not two.
    counted = aliased(Article)
    total = select(func.count()).select_from(counted).where(*_where(filters, counted))
    return (
        _articles(viewing)
        .add_columns(total.scalar_subquery().label("total"))
        .where(*_where(filters))
        .order_by(Article.id.desc())
        .limit(bindparam("limit", type_=BigInteger))
        .offset(bindparam("offset", type_=BigInteger))
    )


@functools.cache
def _count_statement(filters: tuple[str, ...]) -> Select[*tuple[Any, ...]]:
    return select(func.count()).select_from(Article).where(*_where(filters))


@functools.cache
def _slug_statement(viewing: bool) -> Select[*tuple[Any, ...]]:
    return _articles(viewing, body=True).where(Article.slug == bindparam("slug"))


def _viewer(viewer: User | None) -> dict[str, Any]:
    return {} if viewer is None else {"viewer_id": viewer.id}


def _filtering(filters: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]]:
    given = {name: filters[name] for name in _FILTERS if filters.get(name) is not None}
    return tuple(given), given


def article_page(viewer: User | None, *, limit: int, offset: int, **filters: Any) -> Statement:
    """One page of article rows, newest first, filtered by ``tag``, ``author`` (a
    username), ``favorited`` (a username) or ``followed_by`` (a user id)."""
    names, params = _filtering(filters)
    params |= _viewer(viewer) | {"limit": limit, "offset": offset}
    return _page_statement(viewer is not None, names), params


def article_count(**filters: Any) -> Statement:
    """How many articles match the filters (as ``article_page`` takes them)."""
    names, params = _filtering(filters)
    return _count_statement(names), params


def article_by_slug(viewer: User | None, slug: str) -> Statement:
    """The row of the article with this slug, as ``article_page`` gives them."""
    return _slug_statement(viewer is not None), _viewer(viewer) | {"slug": slug}


def _article(row: Any, kind: type[Any], **body: str) -> Any:
    return kind(
        slug=row.slug,
        title=row.title,
        description=row.description,
        tag_list=sorted(row.tag_list or ()),
        created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
        favorited=bool(row.favorited),
        favorites_count=int(row.favorites_count),
        author=Profile(row.username, row.bio, row.image, bool(row.following)),
        **body,
    )


def article_summaries(rows: Iterable[Any]) -> list[ArticleSummary]:
    """The summaries (no body) of ``article_page`` rows."""
    return [_article(row, ArticleSummary) for row in rows]


def article_view(row: Any) -> ArticleView:
    """The whole view of an ``article_by_slug`` row."""
    view: ArticleView = _article(row, ArticleView, body=row.body)
    return view


async def _page(
    session: AsyncSession, viewer: User | None, limit: int, offset: int, **filters: Any
) -> tuple[list[ArticleSummary], int]:
    # PERF: rows of columns need none of the ORM's execution path: the session's
    # connection runs them (its transaction, its commit), about 0.1 ms less a query.
    connection = await session.connection()
    rows = (
        await connection.execute(*article_page(viewer, limit=limit, offset=offset, **filters))
    ).all()
    if rows:
        return article_summaries(rows), rows[0].total
    # An offset past the end: no row to carry the total.
    return [], int((await connection.execute(*article_count(**filters))).scalar() or 0)


async def list_articles(
    session: AsyncSession,
    viewer: User | None,
    *,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
    limit: int = 20,
    offset: int = 0,
) -> tuple[list[ArticleSummary], int]:
    """The newest articles first, filtered by tag, author's and favouriter's username;
    a page of them and how many match in all."""
    return await _page(session, viewer, limit, offset, tag=tag, author=author, favorited=favorited)


async def feed(
    session: AsyncSession, viewer: User, *, limit: int = 20, offset: int = 0
) -> tuple[list[ArticleSummary], int]:
    """The newest articles of the users ``viewer`` follows, and how many there are."""
    return await _page(session, viewer, limit, offset, followed_by=viewer.id)


async def _article_named(session: AsyncSession, slug: str) -> Article:
    found = await session.scalar(
        select(Article).where(Article.slug == slug).options(selectinload(Article.tags))
    )
    if found is None:
        raise NotFound(f"No article {slug!r}")
    return found


async def article(session: AsyncSession, viewer: User | None, slug: str) -> ArticleView:
    """The article with this slug; ``NotFound`` if there is none."""
    row = (await (await session.connection()).execute(*article_by_slug(viewer, slug))).first()
    if row is None:
        raise NotFound(f"No article {slug!r}")
    return article_view(row)


async def create_article(
    session: AsyncSession,
    author: User,
    *,
    title: str,
    description: str,
    body: str,
    tags: Sequence[str] = (),
) -> ArticleView:
    """A new article by ``author``, its slug made from the title."""
    now = _now()
    new = Article(
        slug=await _new_slug(session, title),
        title=title,
        description=description,
        body=body,
        author_id=author.id,
        created_at=now,
        updated_at=now,
        tags=await _tags_named(session, tags),
    )
    session.add(new)
    await session.flush()
    return await article(session, author, new.slug)


async def update_article(
    session: AsyncSession,
    viewer: User,
    slug: str,
    *,
    title: str | UnsetType = UNSET,
    description: str | UnsetType = UNSET,
    body: str | UnsetType = UNSET,
    tags: Sequence[str] | UnsetType = UNSET,
) -> ArticleView:
    """Change the fields given; a new title gives a new slug. Only the author may."""
    found = await _article_named(session, slug)
    if found.author_id != viewer.id:
        raise Forbidden("Only the author may change this article")
    if not isinstance(title, UnsetType) and title != found.title:
        found.title = title
        found.slug = await _new_slug(session, title)
    if not isinstance(description, UnsetType):
        found.description = description
    if not isinstance(body, UnsetType):
        found.body = body
    if not isinstance(tags, UnsetType):
        found.tags = await _tags_named(session, tags)
    found.updated_at = _now()
    await session.flush()
    return await article(session, viewer, found.slug)


async def delete_article(session: AsyncSession, viewer: User, slug: str) -> None:
    """Delete the article, its comments and favourites. Only the author may."""
    found = await _article_named(session, slug)
    if found.author_id != viewer.id:
        raise Forbidden("Only the author may delete this article")
    await session.execute(delete(Article).where(Article.id == found.id))


async def favorite(session: AsyncSession, viewer: User, slug: str) -> ArticleView:
    """``viewer`` favourites the article (again is harmless)."""
    found = await _article_named(session, slug)
    done = select(favorites).where(
        favorites.c.user_id == viewer.id, favorites.c.article_id == found.id
    )
    if (await session.execute(done)).first() is None:
        await _insert_once(
            session, insert(favorites).values(user_id=viewer.id, article_id=found.id)
        )
    return await article(session, viewer, slug)


async def unfavorite(session: AsyncSession, viewer: User, slug: str) -> ArticleView:
    """``viewer`` no longer favourites the article."""
    found = await _article_named(session, slug)
    await session.execute(
        delete(favorites).where(
            favorites.c.user_id == viewer.id, favorites.c.article_id == found.id
        )
    )
    return await article(session, viewer, slug)


# --- Comments and tags ---------------------------------------------------------------


def _comment_view(found: Comment, following: bool) -> CommentView:
    return CommentView(
        found.id,
        _utc(found.created_at),
        _utc(found.updated_at),
        found.body,
        _profile(found.author, following),
    )


async def comments(session: AsyncSession, viewer: User | None, slug: str) -> list[CommentView]:
    """The article's comments, oldest first; ``NotFound`` if there is no such article."""
    found = await _article_named(session, slug)
    query = (
        select(Comment, _follows(viewer, Comment.author_id))
        .where(Comment.article_id == found.id)
        .options(joinedload(Comment.author))
        .order_by(Comment.id)
    )
    return [_comment_view(c, bool(f)) for c, f in (await session.execute(query)).all()]


async def add_comment(session: AsyncSession, viewer: User, slug: str, body: str) -> CommentView:
    """``viewer``'s new comment on the article; ``NotFound`` if there is no such article."""
    found = await _article_named(session, slug)
    now = _now()
    new = Comment(
        body=body, article_id=found.id, author_id=viewer.id, created_at=now, updated_at=now
    )
    new.author = viewer
    session.add(new)
    await session.flush()
    return _comment_view(new, False)  # nobody follows themselves


async def delete_comment(session: AsyncSession, viewer: User, slug: str, comment_id: int) -> None:
    """Delete a comment of the article. Only its author may."""
    found = await _article_named(session, slug)
    comment = await session.scalar(
        select(Comment).where(Comment.id == comment_id, Comment.article_id == found.id)
    )
    if comment is None:
        raise NotFound(f"No comment {comment_id} on {slug!r}")
    if comment.author_id != viewer.id:
        raise Forbidden("Only its author may delete this comment")
    await session.execute(delete(Comment).where(Comment.id == comment.id))


async def tags(session: AsyncSession) -> list[str]:
    """The tags articles carry, the most used first."""
    used = func.count(article_tags.c.article_id)
    query = (
        select(Tag.name)
        .join(article_tags, article_tags.c.tag_id == Tag.id)
        .group_by(Tag.id, Tag.name)
        .order_by(used.desc(), Tag.name)
    )
    return list(await session.scalars(query))
