"""Conduit's JSON API (the RealWorld spec's endpoints) as one ``Router``, and ``install``.

Auth is ``Authorization: Token <jwt>``; bodies and answers are wrapped (``{"user": ...}``,
``{"articles": [...], "articlesCount": n}``); every error is
``{"errors": {"field": ["message"]}}``: 422 for a value refused, 401 without a valid
token, 403 for someone else's article or comment, 404 for a missing one, 429 for too
many sign-in tries, 503 while Redis (when configured) cannot be reached.
``GET /api/articles/{slug}/comments/events`` streams an article's new comments (see
``examples.conduit.sharing``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
from collections.abc import Iterator
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, Meta, UnsetType
from sqlalchemy.ext.asyncio import AsyncSession

from carafe import Body, Carafe, Depends, HTTPError, Request, RequestValidationError, Router
from carafe.caching import cache
from carafe.envelopes import Envelope
from carafe.exceptions import ErrorDetail
from carafe.pagination import LimitOffset, Page
from carafe.responses import JSONResponse, ProblemResponse, Response
from carafe.security import HTTPAuthorizationCredentials, HTTPBearer
from carafe.sse import EventSourceResponse
from carafe.validation import validation_errors
from examples.conduit import services
from examples.conduit.auth import TokenError, make_token, read_token
from examples.conduit.models import EMAIL_MAX, TAG_MAX, TITLE_MAX, USERNAME_MAX, User
from examples.conduit.services import ArticleSummary, ArticleView, CommentView, Profile
from examples.conduit.sharing import SIGN_IN, SIGN_IN_RATE, TAGS_TTL, CommentFeed

__all__ = ["ConduitErrors", "api", "install"]

PREFIX = "/api"

# --- What clients send ---------------------------------------------------------------

NotBlank = r"\S"  # msgspec's pattern is searched: at least one character that is not a space
# PostgreSQL's text cannot hold U+0000 (SQLite's can): a NUL in a name the API looks up
# is refused as a 422, as it is in a body (``_no_nul``), never sent to the database.
NoNul = r"^[^\x00]*$"
Name = Annotated[str, Meta(pattern=NoNul)]
_BLANK = f"Expected `str` matching regex {NotBlank!r}"
# NOTE: Python's `$` also matches before a final newline: `(?!\n)` keeps "jake\n" out
# (a look-alike of "jake"); in the document's ECMA regex it is a no-op.
Username = Annotated[
    str,
    Meta(min_length=1, max_length=USERNAME_MAX, pattern=r"^[\w.-]+$(?!\n)", examples=["jake"]),
]
Email = Annotated[
    str,
    Meta(max_length=EMAIL_MAX, pattern=r"^[^@\s]+@[^@\s]+$(?!\n)", examples=["jake@jake.jake"]),
]
Password = Annotated[str, Meta(min_length=8, max_length=256)]
Bio = Annotated[str, Meta(max_length=5_000)]
Image = Annotated[str, Meta(max_length=2_000)]
Title = Annotated[str, Meta(min_length=1, max_length=TITLE_MAX, pattern=NotBlank)]
Description = Annotated[str, Meta(min_length=1, max_length=2_000, pattern=NotBlank)]
Text = Annotated[str, Meta(min_length=1, max_length=100_000, pattern=NotBlank)]
TagName = Annotated[str, Meta(min_length=1, max_length=TAG_MAX, pattern=NotBlank)]
Tags = Annotated[list[TagName], Meta(max_length=20)]
CommentText = Annotated[str, Meta(min_length=1, max_length=10_000, pattern=NotBlank)]


class NewUser(msgspec.Struct):
    """``POST /api/users``: ``{"user": {...}}``."""

    username: Username
    email: Email
    password: Password


class Login(msgspec.Struct):
    """``POST /api/users/login``: ``{"user": {...}}``."""

    email: Annotated[str, Meta(max_length=EMAIL_MAX)]
    password: Annotated[str, Meta(max_length=256)]


class UserChanges(msgspec.Struct):
    """``PUT /api/user``: the fields to change, any of them."""

    email: Email | UnsetType = UNSET
    username: Username | UnsetType = UNSET
    password: Password | UnsetType = UNSET
    bio: Bio | UnsetType | None = UNSET
    image: Image | UnsetType | None = UNSET


class NewArticle(msgspec.Struct, rename="camel"):
    """``POST /api/articles``: ``{"article": {...}}``."""

    title: Title
    description: Description
    body: Text
    tag_list: Tags = []


class ArticleChanges(msgspec.Struct, rename="camel"):
    """``PUT /api/articles/{slug}``: the fields to change; a new title, a new slug."""

    title: Title | UnsetType = UNSET
    description: Description | UnsetType = UNSET
    body: Text | UnsetType = UNSET
    tag_list: Tags | UnsetType = UNSET


class NewComment(msgspec.Struct):
    """``POST /api/articles/{slug}/comments``: ``{"comment": {"body": ...}}``."""

    body: CommentText


# --- What they get back --------------------------------------------------------------


class UserOut(msgspec.Struct):
    """The logged-in user, with a token for the next requests."""

    email: str
    token: str
    username: str
    bio: str | None
    image: str | None


class ConduitErrors(msgspec.Struct):
    """Every error: ``{"errors": {"username": ["has already been taken"]}}``."""

    errors: dict[str, list[str]]


_TOO_LONG = re.compile(r"^Expected `(?:str|array)` of length <= (\d+)$")
_TOO_SHORT = re.compile(r"^Expected `(?:str|array)` of length >= (\d+)$")


def _message(error: ErrorDetail) -> str:
    """msgspec's words in the Rails phrasing RealWorld clients show ("can't be blank")."""
    text = error["msg"]
    if error["type"] == "missing" or text in ("Expected `str` of length >= 1", _BLANK):
        return "can't be blank"
    if "matching regex" in text:
        return "is invalid"
    if found := _TOO_LONG.match(text):
        return f"is too long (maximum is {found[1]} characters)"
    if found := _TOO_SHORT.match(text):
        return f"is too short (minimum is {found[1]} characters)"
    return text


def conduit_errors(exc: RequestValidationError) -> ConduitErrors:
    """Validation errors by field: the last name in each error's location (``tagList``
    for ``["body", "article", "tagList", 3]``), or ``body`` for the body as a whole."""
    by_field: dict[str, list[str]] = {}
    for error in exc.errors:
        names = [part for part in error["loc"][1:] if isinstance(part, str)]
        by_field.setdefault(names[-1] if names else "body", []).append(_message(error))
    return ConduitErrors(by_field)


async def _answer_error(request: Request, exc: Exception) -> Response:
    """Under /api, an ``HTTPError`` (401, 403, 404, 429, 503) in Conduit's shape."""
    assert isinstance(exc, HTTPError)
    if not request.path.startswith(PREFIX + "/"):
        return ProblemResponse.from_error(exc)
    body = ConduitErrors({"body": [exc.detail]})
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _invalid(field: str, message: str, kind: str = "invalid") -> RequestValidationError:
    return RequestValidationError([{"loc": ["body", field], "msg": message, "type": kind}])


def _no_nul(value: msgspec.Struct, where: str) -> None:
    """Refuse a body whose text holds U+0000: a 422 naming each such field."""
    errors: list[ErrorDetail] = []
    for field in msgspec.structs.fields(value):
        item = getattr(value, field.name)
        texts = item if isinstance(item, list) else [item]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            loc: list[str | int] = ["body", where, field.encode_name]
            errors.append({"loc": loc, "msg": "is invalid", "type": "invalid"})
    if errors:
        raise RequestValidationError(errors)


@contextlib.contextmanager
def _http_errors() -> Iterator[None]:
    """The services' refusals as HTTP errors: 404, 403, 422."""
    try:
        yield
    except services.NotFound as error:
        raise HTTPError(404, str(error)) from None
    except services.Forbidden as error:
        raise HTTPError(403, str(error)) from None
    except services.Invalid as error:
        raise _invalid(error.field, error.message) from None


# --- Who is asking -------------------------------------------------------------------

_TOKEN_HELP = "`Authorization: Token <jwt>`, the token `POST /api/users/login` gives."
token = HTTPBearer(
    scheme="Token", bearer_format="JWT", scheme_name="Token", description=_TOKEN_HELP
)
maybe_token = HTTPBearer(  # the same scheme, optional: one entry in the document
    scheme="Token",
    bearer_format="JWT",
    scheme_name="Token",
    description=_TOKEN_HELP,
    auto_error=False,
)


@dataclasses.dataclass(frozen=True)
class Viewer:
    """The user a valid token names, and that token."""

    user: User
    token: str


def _unauthorized(detail: str) -> HTTPError:
    return HTTPError(401, detail, {"WWW-Authenticate": 'Token error="invalid_token"'})


async def _viewer(request: Request, session: AsyncSession, credentials: str) -> Viewer:
    try:
        user_id = read_token(credentials, request.app.config["JWT_SECRET"])
    except TokenError as error:
        raise _unauthorized(str(error)) from None
    user = await services.user_by_id(session, user_id)
    if user is None:
        raise _unauthorized("The token's user no longer exists")
    return Viewer(user, credentials)


async def current_user(
    request: Request,
    session: AsyncSession,
    credentials: Annotated[HTTPAuthorizationCredentials, Depends(token)],
) -> Viewer:
    """The logged-in user; a missing, malformed or expired token is a 401."""
    return await _viewer(request, session, credentials.credentials)


async def optional_user(
    request: Request,
    session: AsyncSession,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(maybe_token)],
) -> Viewer | None:
    """The logged-in user or None; a token sent that is not valid is still a 401."""
    if credentials is None:
        return None
    return await _viewer(request, session, credentials.credentials)


Me = Annotated[Viewer, Depends(current_user)]
MaybeMe = Annotated[Viewer | None, Depends(optional_user)]


def _user(viewer: Viewer | None) -> User | None:
    return None if viewer is None else viewer.user


def _user_out(user: User, jwt: str) -> UserOut:
    return UserOut(user.email, jwt, user.username, user.bio, user.image)


# --- The endpoints -------------------------------------------------------------------


def _deleted() -> Response:
    """The spec's answer to a delete: 200 with no body (its ``EmptyOkResponse``)."""
    return Response(status_code=200)


def _deleting(what: str) -> dict[int | str, dict[str, Any]]:
    """A delete's responses: the spec's bodiless 200 (``content={}``) and the errors."""
    return {200: {"description": f"The {what} is deleted (no body)", "content": {}}} | _owned(what)


def _missing(what: str) -> dict[int | str, dict[str, Any]]:
    return {404: {"model": ConduitErrors, "description": f"No such {what}"}}


def _owned(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        **_missing(what),
        403: {"model": ConduitErrors, "description": f"Not the {what}'s author"},
    }


api = Router(
    prefix=PREFIX,
    tags=["conduit"],
    responses={
        400: {"model": ConduitErrors, "description": "The body is not JSON"},
        401: {"model": ConduitErrors, "description": "No valid token"},
    },
)

UserEnvelope = Envelope("user")
ArticleEnvelope = Envelope("article")
ArticlesEnvelope = Envelope("articles", count="articlesCount")


_TOO_MANY = {
    429: {"model": ConduitErrors, "description": f"Too many sign-in tries: {SIGN_IN_RATE}"}
}


@api.post("/users/login", dependencies=[SIGN_IN], responses=_TOO_MANY)
async def login(
    user: Annotated[Login, Body(embed=True)], request: Request, session: AsyncSession
) -> Annotated[UserOut, UserEnvelope]:
    """Log in: the user and a token; at most 10 tries a minute per client (then 429)."""
    _no_nul(user, "user")
    found = await services.authenticate(session, user.email, user.password)
    if found is None:
        raise _invalid("email or password", "is invalid")
    return _user_out(found, make_token(found.id, request.app.config["JWT_SECRET"]))


@api.post("/users", status_code=201)
async def register(
    user: Annotated[NewUser, Body(embed=True)], request: Request, session: AsyncSession
) -> Annotated[UserOut, UserEnvelope]:
    """Sign up: the new user and a token."""
    _no_nul(user, "user")
    with _http_errors():
        new = await services.register(session, user.username, user.email, user.password)
    return _user_out(new, make_token(new.id, request.app.config["JWT_SECRET"]))


@api.get("/user")
async def me(viewer: Me) -> Annotated[UserOut, UserEnvelope]:
    """The logged-in user."""
    return _user_out(viewer.user, viewer.token)


@api.put("/user")
async def update_me(
    user: Annotated[UserChanges, Body(embed=True)], viewer: Me, session: AsyncSession
) -> Annotated[UserOut, UserEnvelope]:
    """Change the logged-in user's email, username, password, bio or image."""
    _no_nul(user, "user")
    with _http_errors():
        changed = await services.update_user(
            session,
            viewer.user,
            email=user.email,
            username=user.username,
            password=user.password,
            bio=user.bio,
            image=user.image,
        )
    return _user_out(changed, viewer.token)


@api.get("/profiles/{username}", responses=_missing("user"))
async def get_profile(
    username: Name, viewer: MaybeMe, session: AsyncSession
) -> Annotated[Profile, Envelope("profile")]:
    """A user's profile."""
    with _http_errors():
        return await services.profile(session, _user(viewer), username)


@api.post("/profiles/{username}/follow", responses=_missing("user"))
async def follow(
    username: Name, viewer: Me, session: AsyncSession
) -> Annotated[Profile, Envelope("profile")]:
    """Follow a user."""
    with _http_errors():
        return await services.follow(session, viewer.user, username)


@api.delete("/profiles/{username}/follow", responses=_missing("user"))
async def unfollow(
    username: Name, viewer: Me, session: AsyncSession
) -> Annotated[Profile, Envelope("profile")]:
    """Stop following a user."""
    with _http_errors():
        return await services.unfollow(session, viewer.user, username)


@api.get("/articles")
async def list_articles(
    page: LimitOffset,
    viewer: MaybeMe,
    session: AsyncSession,
    tag: Name | None = None,
    author: Name | None = None,
    favorited: Name | None = None,
) -> Annotated[Page[ArticleSummary], ArticlesEnvelope]:
    """The newest articles, by tag, author or the user who favourited them."""
    found, total = await services.list_articles(
        session,
        _user(viewer),
        tag=tag,
        author=author,
        favorited=favorited,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(found, total=total)


@api.get("/articles/feed")
async def feed(
    page: LimitOffset, viewer: Me, session: AsyncSession
) -> Annotated[Page[ArticleSummary], ArticlesEnvelope]:
    """The newest articles of the users the logged-in user follows."""
    found, total = await services.feed(session, viewer.user, limit=page.limit, offset=page.offset)
    return Page(found, total=total)


@api.post("/articles", status_code=201)
async def create_article(
    article: Annotated[NewArticle, Body(embed=True)], viewer: Me, session: AsyncSession
) -> Annotated[ArticleView, ArticleEnvelope]:
    """Write an article; its slug comes from the title."""
    _no_nul(article, "article")
    return await services.create_article(
        session,
        viewer.user,
        title=article.title,
        description=article.description,
        body=article.body,
        tags=article.tag_list,
    )


@api.get("/articles/{slug}", responses=_missing("article"))
async def get_article(
    slug: Name, viewer: MaybeMe, session: AsyncSession
) -> Annotated[ArticleView, ArticleEnvelope]:
    """One article."""
    with _http_errors():
        return await services.article(session, _user(viewer), slug)


@api.put("/articles/{slug}", responses=_owned("article"))
async def update_article(
    slug: Name,
    article: Annotated[ArticleChanges, Body(embed=True)],
    viewer: Me,
    session: AsyncSession,
) -> Annotated[ArticleView, ArticleEnvelope]:
    """Change an article (its author only); a new title gives it a new slug."""
    _no_nul(article, "article")
    with _http_errors():
        return await services.update_article(
            session,
            viewer.user,
            slug,
            title=article.title,
            description=article.description,
            body=article.body,
            tags=article.tag_list,
        )


@api.delete("/articles/{slug}", responses=_deleting("article"))
async def delete_article(slug: Name, viewer: Me, session: AsyncSession) -> Response:
    """Delete an article (its author only), with its comments: 200, no body."""
    with _http_errors():
        await services.delete_article(session, viewer.user, slug)
    return _deleted()


@api.post("/articles/{slug}/favorite", responses=_missing("article"))
async def favorite(
    slug: Name, viewer: Me, session: AsyncSession
) -> Annotated[ArticleView, ArticleEnvelope]:
    """Favourite an article."""
    with _http_errors():
        return await services.favorite(session, viewer.user, slug)


@api.delete("/articles/{slug}/favorite", responses=_missing("article"))
async def unfavorite(
    slug: Name, viewer: Me, session: AsyncSession
) -> Annotated[ArticleView, ArticleEnvelope]:
    """Take a favourite back."""
    with _http_errors():
        return await services.unfavorite(session, viewer.user, slug)


@api.get("/articles/{slug}/comments", responses=_missing("article"))
async def comments(
    slug: Name, viewer: MaybeMe, session: AsyncSession
) -> Annotated[list[CommentView], Envelope("comments")]:
    """An article's comments, oldest first."""
    with _http_errors():
        return await services.comments(session, _user(viewer), slug)


@api.post("/articles/{slug}/comments", responses=_missing("article"))
async def add_comment(
    slug: Name,
    comment: Annotated[NewComment, Body(embed=True)],
    viewer: Me,
    session: AsyncSession,
    feed: CommentFeed,
) -> Annotated[CommentView, Envelope("comment")]:
    """Comment on an article; its event stream's listeners get it too."""
    _no_nul(comment, "comment")
    with _http_errors():
        added = await services.add_comment(session, viewer.user, slug, comment.body)
    # NOTE: Redis down, this raises BrokerUnavailable, a 503: the comment is rolled back,
    # so no reader misses one that was saved.
    await feed.publish(slug, added)
    return added


_STREAM = {
    200: {
        "description": "`text/event-stream`: a `comment` event (a Comment) for each new one",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    },
    **_missing("article"),
}


@api.get("/articles/{slug}/comments/events", responses=_STREAM)
async def comment_events(
    slug: Name, session: AsyncSession, feed: CommentFeed
) -> EventSourceResponse:
    """The article's new comments, as Server-Sent Events (``comment``), from every server.

    The stream does not end by itself: read it as one (``EventSource``, ``httpx.stream``).
    """
    with _http_errors():
        await services.article(session, None, slug)
    return EventSourceResponse(feed.events(slug), ping=5)


@api.delete("/articles/{slug}/comments/{comment_id}", responses=_deleting("comment"))
async def delete_comment(
    slug: Name, comment_id: int, viewer: Me, session: AsyncSession
) -> Response:
    """Delete a comment (its author only): 200, no body."""
    with _http_errors():
        await services.delete_comment(session, viewer.user, slug, comment_id)
    return _deleted()


@api.get("/tags", dependencies=[cache(TAGS_TTL)])
async def tags(session: AsyncSession) -> Annotated[list[str], Envelope("tags")]:
    """The tags in use, the most used first (cached: up to 30 s old, see ``Age``)."""
    return await services.tags(session)


def install(app: Carafe) -> None:
    """Serve the API on ``app``: the routes, and Conduit's error shape under ``/api``."""
    validation_errors(app, description="A value was refused")(conduit_errors)
    app.exception_handler(HTTPError)(_answer_error)
    app.include(api)
