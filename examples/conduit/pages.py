"""Conduit's pages: the RealWorld front end's routes, rendered on the server.

One ``Router`` (route names ``pages.*``) beside the JSON API, over the same queries
(``services``). ``install_pages(app)`` adds it to an app with what pages need:

- sessions, in memory, or in Redis when ``SESSION_REDIS_URL`` is configured
  (``CARAFE_SESSION_REDIS_URL``), so several workers share them; the visitor's user id
  is kept there after signing in, and signing in gives a new session id;
- a CSRF token on every form, checked on every post to these routes (and only these:
  the JSON API authenticates with a token, not a cookie);
- flash messages after a change, the form shown again with its errors and the input
  kept when a value is refused, a 404 page for a missing article or profile, a 403
  page for someone else's article or a refused CSRF token, and a sign-in page (then
  back) for a visitor who is not signed in;
- sign-in tries counted against the API login's budget (``sharing.SIGN_IN``): over it,
  the form again with a 429 and ``Retry-After``; a comment posted here reaches the
  article's event stream (``GET /api/articles/{slug}/comments/events``) as well.

Article bodies are Markdown (CommonMark, with markdown-it-py); HTML typed into them
is shown as text and ``javascript:`` links are not made.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import msgspec
from markupsafe import Markup
from msgspec import UNSET, Meta
from sqlalchemy.ext.asyncio import AsyncSession

from carafe import Carafe, Depends, HTTPError, Request, Router
from carafe.ratelimit import RateLimits
from carafe.responses import RedirectResponse, Response
from carafe.web.csrf import CSRFProtect
from carafe.web.flash import flash
from carafe.web.form_binding import BoundForm, bind_form
from carafe.web.sessions import MemoryStore, RedisStore, Session, Sessions, get_session
from carafe.web.templating import Templates
from examples.conduit import services
from examples.conduit.api import (
    Bio,
    CommentText,
    Description,
    Email,
    Image,
    Password,
    Tags,
    Text,
    Title,
    Username,
)
from examples.conduit.models import TAG_MAX, User
from examples.conduit.sharing import CommentFeed, sign_in_budget

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

__all__ = ["PER_PAGE", "install_pages", "pages", "render_markdown"]

HERE = Path(__file__).resolve().parent
PER_PAGE = 10
"""Articles on one page of a list."""

logger = logging.getLogger("examples.conduit")
F = TypeVar("F", bound=Callable[..., Any])

templates = Templates(HERE / "templates")

# --- What the forms hold -------------------------------------------------------------


class SignUpForm(msgspec.Struct):
    username: Username
    email: Email
    password: Password


class SignInForm(msgspec.Struct):
    email: Annotated[str, Meta(max_length=254)]
    password: Annotated[str, Meta(max_length=256)]


class SettingsForm(msgspec.Struct, kw_only=True):
    image: Image = ""
    username: Username
    bio: Bio = ""
    email: Email
    password: Password | None = None  # blank: keep the password


class ArticleForm(msgspec.Struct):
    title: Title
    description: Description
    body: Text
    tags: Annotated[str, Meta(max_length=2_000)] = ""  # "dragons, training"


class CommentForm(msgspec.Struct):
    body: CommentText


# What the shared rules' messages mean on these fields, in words for a person.
_SAID_BETTER = {
    ("username", "This is not in the expected format."): (
        "Use letters, digits, '.', '-' and '_' only, without spaces."
    ),
    (
        "email",
        "This is not in the expected format.",
    ): "Enter an email address, e.g. ann@example.org.",
}


def _bind(model: type[Any], submitted: Any) -> BoundForm[Any]:
    """``bind_form`` on the submitted text with the spaces around it trimmed (a blank
    field is then "required"), and friendlier messages where the shared rules need them."""
    trimmed = {
        name: value.strip() if isinstance(value, str) and name != "password" else value
        for name, value in submitted.items()
        if name != "csrf_token"
    }
    form = bind_form(model, trimmed)
    for name, message in form.errors.items():
        form.errors[name] = _SAID_BETTER.get((name, message), message)
    for name, value in trimmed.items():
        if isinstance(value, str) and _NUL in value:
            form.errors[name] = _NUL_MESSAGE  # PostgreSQL's text cannot hold it
            form.value = None
    return form


def _tag_names(form: BoundForm[Any]) -> list[str]:
    """The editor's comma-separated tags, checked as the API checks ``tagList``."""
    text = form.data.get("tags", "")
    names = [name.strip() for name in text.split(",") if name.strip()]
    try:
        return list(msgspec.convert(names, Tags))
    except msgspec.ValidationError:
        rule = msgspec.inspect.type_info(Tags)
        assert isinstance(rule, msgspec.inspect.ListType) and rule.max_length is not None
        if len(names) > rule.max_length:
            form.errors["tags"] = f"Use at most {rule.max_length} tags."
        else:
            longest = max(len(name) for name in names)
            form.errors["tags"] = f"A tag has at most {TAG_MAX} characters ({longest} given)."
        return []


def blank_form(**data: Any) -> BoundForm[Any]:
    """A form shown for the first time (``data`` fills it in)."""
    return BoundForm(None, {}, data)


# --- Markdown ------------------------------------------------------------------------


@functools.cache
def _markdown() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # NOTE: "commonmark" allows raw HTML by default; html=False shows it as text.
    return MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(text: str) -> Markup:
    """An article body as HTML: Markdown rendered, any HTML in it escaped.

    >>> str(render_markdown("**Hi** <script>x()</script>"))
    '<p><strong>Hi</strong> &lt;script&gt;x()&lt;/script&gt;</p>\\n'
    """
    return Markup(_markdown().render(text))  # safe: markdown-it escaped the input


@templates.template_filter("date")
def _date(moment: Any) -> str:
    return f"{moment:%B} {moment.day}, {moment.year}"


templates.filters["markdown"] = render_markdown

# --- Errors shown as pages -----------------------------------------------------------


class PageError(Exception):
    """A page that cannot be shown: 404, 403 (someone else's, or a refused CSRF token).

    It carries the visitor's name for the page's header, read while their user is
    still loaded (the request's database session is rolled back before the page).
    """

    def __init__(self, status: int, title: str, detail: str, me: User | None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.me = None if me is None else {"username": me.username, "image": me.image}


class SignInRequired(Exception):
    """Raised for a visitor who must sign in first."""


async def _error_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, PageError)
    return await templates.render(
        request,
        "error.html",
        me=exc.me,
        title=exc.title,
        detail=exc.detail,
        status_code=exc.status,
    )


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    flash(await get_session(request), "Sign in to see that page.", "warning")
    if request.method != "GET":
        return RedirectResponse(request.url_for("pages.sign_in_page"), 303)
    target = quote(_here(request))
    return RedirectResponse(f"{request.url_for('pages.sign_in_page')}?next={target}", 303)


@contextlib.contextmanager
def _refusals(me: User | None) -> Iterator[None]:
    """The services' refusals as pages: no such article or user, not the author."""
    try:
        yield
    except services.NotFound as error:
        raise PageError(404, "Not found", str(error), me) from None
    except services.Forbidden as error:
        raise PageError(403, "Not yours", str(error), me) from None


# --- Who is asking -------------------------------------------------------------------


async def viewer(session: Session, db: AsyncSession) -> User | None:
    """The signed-in user, or None."""
    user_id = session.get("user_id")
    return await services.user_by_id(db, user_id) if isinstance(user_id, int) else None


MaybeUser = Annotated[User | None, Depends(viewer)]


async def signed_in(me: MaybeUser) -> User:
    """The signed-in user; anyone else is sent to sign in."""
    if me is None:
        raise SignInRequired()
    return me


SignedIn = Annotated[User, Depends(signed_in)]

# NOTE: CSRF is checked here, for these routes only, not by CSRFProtect(app): the JSON
# API on the same app is authenticated by a token header and needs no CSRF token, and a
# refusal here is a page, not problem+json. The tokens are the ones csrf_token() renders.
_csrf = CSRFProtect()
_SAFE = frozenset({"GET", "HEAD", "OPTIONS"})


async def csrf_checked(request: Request, me: MaybeUser) -> None:
    """Refuse a post without this visitor's CSRF token (or from another site)."""
    if request.method in _SAFE:
        return
    try:
        await _csrf.check(request)
    except HTTPError as error:
        raise PageError(403, "Refused", error.detail, me) from None


_NUL = "\x00"
_NUL_MESSAGE = "This field cannot hold a NUL character."


async def no_nul(request: Request, me: MaybeUser) -> None:
    """A NUL (U+0000) in the path is a page not found, in the query a bad request: never
    a lookup (PostgreSQL's text cannot hold it). Forms are checked in ``_bind``."""
    if any(_NUL in str(value) for value in request.path_params.values()):
        raise PageError(404, "Not found", "There is no such page.", me)
    if "%00" in request.scope.get("query_string", b"").decode("latin-1"):
        raise PageError(400, "Bad request", "The address holds a NUL character.", me)


pages = Router(name="pages", dependencies=[Depends(csrf_checked), Depends(no_nul)])


def _get(path: str) -> Callable[[F], F]:
    return pages.get(path, include_in_schema=False)


def _post(path: str) -> Callable[[F], F]:
    return pages.post(path, include_in_schema=False)


# --- Helpers -------------------------------------------------------------------------


async def _page(
    request: Request, name: str, me: Any, status: int = 200, **context: Any
) -> Response:
    return await templates.render(request, name, me=me, status_code=status, **context)


def _here(request: Request) -> str:
    """This page's path and query: where a button on it comes back to."""
    query = request.scope.get("query_string", b"").decode("latin-1")
    return request.path + (f"?{query}" if query else "")


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, 303)


def safe_next(target: Any, default: str) -> str:
    """Only a path on this site: ``//evil.example`` and ``https://...`` are refused."""
    if isinstance(target, str) and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return default


def _page_number(text: str) -> int:
    return int(text) if text.isdigit() and 0 < int(text) < 100_000 else 1


class Pager(msgspec.Struct):
    """Links to the pages of a list: ``(number, url)``, and the current number."""

    current: int
    links: list[tuple[int, str]]


def _pager(request: Request, current: int, total: int, **query: str) -> Pager:
    count = math.ceil(total / PER_PAGE)
    kept = {k: v for k, v in query.items() if v}
    links = [
        (n, request.path + "?" + urlencode({**kept, "page": str(n)})) for n in range(1, count + 1)
    ]
    return Pager(current, links if count > 1 else [])


async def _undo(db: AsyncSession, me: User | None) -> None:
    """Roll back what a refused change did, so nothing is written half-way."""
    await db.rollback()
    if me is not None:
        await db.refresh(me)


# --- Home ----------------------------------------------------------------------------


@_get("/")
async def home(
    request: Request,
    db: AsyncSession,
    me: MaybeUser,
    tab: str = "",
    tag: str = "",
    page: str = "1",
) -> Response:
    """The global feed, the visitor's own feed (``?tab=feed``), or one tag's articles."""
    number = _page_number(page)
    offset = (number - 1) * PER_PAGE
    if tag:
        tab = "tag"
    elif tab != "feed" or me is None:
        tab = "global"
    if tab == "feed":
        assert me is not None
        found, total = await services.feed(db, me, limit=PER_PAGE, offset=offset)
    else:
        found, total = await services.list_articles(
            db, me, tag=tag or None, limit=PER_PAGE, offset=offset
        )
    return await _page(
        request,
        "home.html",
        me,
        tab=tab,
        tag=tag,
        here=_here(request),
        articles=found,
        pager=_pager(request, number, total, tab="feed" if tab == "feed" else "", tag=tag),
        tags=await services.tags(db),
    )


# --- Signing up, in and out ----------------------------------------------------------


def _sign_in(session: Session, user: User) -> None:
    session.regenerate()  # a new id and CSRF secret: an id planted earlier is worthless
    session["user_id"] = user.id


@_get("/register")
async def sign_up_page(request: Request, me: MaybeUser) -> Response:
    """The sign-up form."""
    return await _page(request, "register.html", me, form=blank_form())


@_post("/register")
async def sign_up(request: Request, session: Session, db: AsyncSession) -> Response:
    """Create the account, sign in, and go home."""
    form = _bind(SignUpForm, await request.form())
    if form.value is None:
        return await _page(request, "register.html", None, 422, form=form)
    try:
        user = await services.register(
            db, form.value.username, form.value.email, form.value.password
        )
    except services.Invalid as error:
        await _undo(db, None)
        form.errors[error.field] = f"This {error.field} is taken already."
        return await _page(request, "register.html", None, 422, form=form)
    _sign_in(session, user)
    flash(session, f"Welcome to Conduit, {user.username}!", "success")
    return _see(request.url_for("pages.home"))


@_get("/login")
async def sign_in_page(request: Request, me: MaybeUser, next: str = "") -> Response:
    """The sign-in form; ``next`` is where to go after."""
    return await _page(request, "login.html", me, form=blank_form(), next=next)


class TooManyTries(Exception):
    """Raised by ``sign_in_tries`` over the sign-in budget; carries ``Retry-After``."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__("too many sign-in tries")
        self.headers = headers


async def sign_in_tries(request: Request, limits: RateLimits) -> None:
    """Count a try against the budget the API's login shares (``sharing.SIGN_IN``)."""
    try:
        await sign_in_budget(request, limits)
    except HTTPError as error:
        if error.status_code != 429:
            raise  # 503: Redis is away
        raise TooManyTries(dict(error.headers)) from None


async def _too_many_tries(request: Request, exc: Exception) -> Response:
    """The sign-in form again, 429, saying when to try next."""
    assert isinstance(exc, TooManyTries)
    form = blank_form()
    form.errors[""] = f"Too many tries. Try again in {exc.headers.get('Retry-After', '60')} s."
    return await templates.render(
        request, "login.html", me=None, form=form, next="", status_code=429, headers=exc.headers
    )


@pages.post("/login", include_in_schema=False, dependencies=[Depends(sign_in_tries)])
async def sign_in(request: Request, session: Session, db: AsyncSession) -> Response:
    """Check the email and password, sign in, and go on."""
    submitted = await request.form()
    form = _bind(SignInForm, submitted)
    next_page = submitted.get("next", "")
    if form.value is not None:
        user = await services.authenticate(db, form.value.email, form.value.password)
        if user is not None:
            _sign_in(session, user)
            flash(session, f"Welcome back, {user.username}.", "success")
            return _see(safe_next(next_page, request.url_for("pages.home")))
        form.errors[""] = "The email or the password is wrong."
    return await _page(request, "login.html", None, 422, form=form, next=next_page)


@_post("/logout")
async def sign_out(request: Request, session: Session) -> Response:
    """Forget the visitor."""
    session.clear()
    session.regenerate()
    flash(session, "You are signed out.", "info")
    return _see(request.url_for("pages.home"))


# --- Settings ------------------------------------------------------------------------


@_get("/settings")
async def settings_page(request: Request, me: SignedIn) -> Response:
    """The signed-in user's settings."""
    shown = blank_form(image=me.image or "", username=me.username, bio=me.bio or "", email=me.email)
    return await _page(request, "settings.html", me, form=shown)


@_post("/settings")
async def settings(request: Request, session: Session, db: AsyncSession, me: SignedIn) -> Response:
    """Save the settings (a blank password keeps the old one)."""
    form = _bind(SettingsForm, await request.form())
    if form.value is None:
        return await _page(request, "settings.html", me, 422, form=form)
    changes = form.value
    try:
        await services.update_user(
            db,
            me,
            email=changes.email,
            username=changes.username,
            password=UNSET if changes.password is None else changes.password,
            bio=changes.bio or None,
            image=changes.image or None,
        )
    except services.Invalid as error:
        await _undo(db, me)
        form.errors[error.field] = f"This {error.field} is taken already."
        return await _page(request, "settings.html", me, 422, form=form)
    flash(session, "Your settings are saved.", "success")
    return _see(request.url_for("pages.profile_page", username=me.username))


# --- Articles ------------------------------------------------------------------------


async def _article_page(
    request: Request,
    db: AsyncSession,
    me: User | None,
    slug: str,
    comment_form: BoundForm[Any],
    status: int = 200,
) -> Response:
    with _refusals(me):
        shown = await services.article(db, me, slug)
        comments = await services.comments(db, me, slug)
    return await _page(
        request,
        "article.html",
        me,
        status,
        article=shown,
        comments=comments,
        form=comment_form,
    )


@_get("/article/{slug}")
async def article_page(request: Request, slug: str, db: AsyncSession, me: MaybeUser) -> Response:
    """An article, its comments, and a form for one more."""
    return await _article_page(request, db, me, slug, blank_form())


@_get("/editor")
async def new_article_page(request: Request, me: SignedIn) -> Response:
    """An empty editor."""
    return await _page(request, "editor.html", me, form=blank_form(), slug=None)


def _bind_article(submitted: Any) -> tuple[BoundForm[Any], list[str]]:
    form = _bind(ArticleForm, submitted)
    tags = _tag_names(form)
    return form, tags


@_post("/editor")
async def new_article(
    request: Request, session: Session, db: AsyncSession, me: SignedIn
) -> Response:
    """Publish an article and show it."""
    form, tags = _bind_article(await request.form())
    if form.value is None or form.errors:
        return await _page(request, "editor.html", me, 422, form=form, slug=None)
    written = await services.create_article(
        db,
        me,
        title=form.value.title,
        description=form.value.description,
        body=form.value.body,
        tags=tags,
    )
    flash(session, "Your article is published.", "success")
    return _see(request.url_for("pages.article_page", slug=written.slug))


@_get("/editor/{slug}")
async def edit_article_page(
    request: Request, slug: str, db: AsyncSession, me: SignedIn
) -> Response:
    """The editor, filled in with the article (its author only)."""
    with _refusals(me):
        found = await services.article(db, me, slug)
    if found.author.username != me.username:
        raise PageError(403, "Not yours", "Only the author may change this article", me)
    shown = blank_form(
        title=found.title,
        description=found.description,
        body=found.body,
        tags=", ".join(found.tag_list),
    )
    return await _page(request, "editor.html", me, form=shown, slug=slug)


@_post("/editor/{slug}")
async def edit_article(
    request: Request, slug: str, session: Session, db: AsyncSession, me: SignedIn
) -> Response:
    """Save the changes (a new title gives a new slug) and show the article."""
    form, tags = _bind_article(await request.form())
    if form.value is None or form.errors:
        return await _page(request, "editor.html", me, 422, form=form, slug=slug)
    with _refusals(me):
        changed = await services.update_article(
            db,
            me,
            slug,
            title=form.value.title,
            description=form.value.description,
            body=form.value.body,
            tags=tags,
        )
    flash(session, "Your article is saved.", "success")
    return _see(request.url_for("pages.article_page", slug=changed.slug))


@_post("/article/{slug}/delete")
async def delete_article(
    request: Request, slug: str, session: Session, db: AsyncSession, me: SignedIn
) -> Response:
    """Delete the article (its author only), with its comments."""
    with _refusals(me):
        await services.delete_article(db, me, slug)
    flash(session, "Your article is deleted.", "info")
    return _see(request.url_for("pages.home"))


async def _back(request: Request, default: str) -> RedirectResponse:
    """Back to the page the button was on (its hidden ``next``)."""
    return _see(safe_next((await request.form()).get("next"), default))


@_post("/article/{slug}/favorite")
async def favorite(request: Request, slug: str, db: AsyncSession, me: SignedIn) -> Response:
    """Favorite the article."""
    with _refusals(me):
        await services.favorite(db, me, slug)
    return await _back(request, request.url_for("pages.article_page", slug=slug))


@_post("/article/{slug}/unfavorite")
async def unfavorite(request: Request, slug: str, db: AsyncSession, me: SignedIn) -> Response:
    """Take the favorite back."""
    with _refusals(me):
        await services.unfavorite(db, me, slug)
    return await _back(request, request.url_for("pages.article_page", slug=slug))


# --- Comments ------------------------------------------------------------------------


@_post("/article/{slug}/comments")
async def add_comment(
    request: Request,
    slug: str,
    session: Session,
    db: AsyncSession,
    me: SignedIn,
    feed: CommentFeed,
) -> Response:
    """Post a comment (to the article's event stream too); a refused one comes back."""
    form = _bind(CommentForm, await request.form())
    if form.value is None:
        return await _article_page(request, db, me, slug, form, 422)
    with _refusals(me):
        added = await services.add_comment(db, me, slug, form.value.body)
    await feed.publish(slug, added)  # Redis down: a 503, and the comment is not kept
    flash(session, "Your comment is posted.", "success")
    return _see(request.url_for("pages.article_page", slug=slug) + "#comments")


@_post("/article/{slug}/comments/{comment_id}/delete")
async def delete_comment(
    request: Request,
    slug: str,
    comment_id: int,
    session: Session,
    db: AsyncSession,
    me: SignedIn,
) -> Response:
    """Delete a comment (its author only)."""
    with _refusals(me):
        await services.delete_comment(db, me, slug, comment_id)
    flash(session, "Your comment is deleted.", "info")
    return _see(request.url_for("pages.article_page", slug=slug) + "#comments")


# --- Profiles ------------------------------------------------------------------------


async def _profile_page(
    request: Request, db: AsyncSession, me: User | None, username: str, tab: str, page: str
) -> Response:
    number = _page_number(page)
    with _refusals(me):
        shown = await services.profile(db, me, username)
    which = {"favorited": username} if tab == "favorites" else {"author": username}
    found, total = await services.list_articles(
        db, me, limit=PER_PAGE, offset=(number - 1) * PER_PAGE, **which
    )
    return await _page(
        request,
        "profile.html",
        me,
        profile=shown,
        tab=tab,
        articles=found,
        pager=_pager(request, number, total),
    )


@_get("/profile/{username}")
async def profile_page(
    request: Request, username: str, db: AsyncSession, me: MaybeUser, page: str = "1"
) -> Response:
    """A user, and the articles they wrote."""
    return await _profile_page(request, db, me, username, "articles", page)


@_get("/profile/{username}/favorites")
async def favorites_page(
    request: Request, username: str, db: AsyncSession, me: MaybeUser, page: str = "1"
) -> Response:
    """A user, and the articles they favorited."""
    return await _profile_page(request, db, me, username, "favorites", page)


@_post("/profile/{username}/follow")
async def follow(
    request: Request, username: str, session: Session, db: AsyncSession, me: SignedIn
) -> Response:
    """Follow the user."""
    with _refusals(me):
        try:
            await services.follow(db, me, username)
        except services.Invalid as error:
            flash(session, f"That {error.field} {error.message}.", "error")
    return await _back(request, request.url_for("pages.profile_page", username=username))


@_post("/profile/{username}/unfollow")
async def unfollow(request: Request, username: str, db: AsyncSession, me: SignedIn) -> Response:
    """Stop following the user."""
    with _refusals(me):
        await services.unfollow(db, me, username)
    return await _back(request, request.url_for("pages.profile_page", username=username))


# --- Installing ----------------------------------------------------------------------


def install_pages(app: Carafe) -> None:
    """Serve the pages on ``app``, with sessions, the static files and the error pages."""
    url = app.config.get("SESSION_REDIS_URL")
    if not app.secret_key:
        if url:
            logger.warning(
                "Conduit: no SECRET_KEY configured; each worker signs cookies with a key of "
                "its own, so sessions break across workers (set CARAFE_SECRET_KEY)"
            )
        app.secret_key = secrets.token_urlsafe(32)
    store = RedisStore(url, prefix="conduit:session:") if url else MemoryStore()
    Sessions(app, store=store, secure=bool(app.config.get("SECURE_COOKIES")))
    if isinstance(store, RedisStore):
        app.on_shutdown(store.close)
    app.static("/static", str(HERE / "static"))
    app.exception_handler(PageError)(_error_page)
    app.exception_handler(SignInRequired)(_to_sign_in)
    app.exception_handler(TooManyTries)(_too_many_tries)
    app.include(pages)
