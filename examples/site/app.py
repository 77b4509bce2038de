"""A small web site on Carafe: sign up, log in, a protected page, a profile form, log out.

    carafe run examples.site.app:app                 # sessions in memory (one process)
    CARAFE_SESSION_REDIS_URL=redis://127.0.0.1:6379/0 carafe run examples.site.app:app

Passwords are hashed with scrypt; users live in memory, in each worker process (a real
site would use a database). Sessions are server-side: in memory by default, in Redis when
``CARAFE_SESSION_REDIS_URL`` is set, so several workers can share them; the accounts they
name are still each worker's own, so with several workers a visitor is logged in only on
the worker where they signed up (docs/deployment.md, "Scale-out"). Every form post
carries a CSRF token, and logging in gives the visitor a new session id. Login tries are
limited to 10 a minute per client address, counted in the Redis of ``CARAFE_REDIS_URL``
when it is set (shared by every worker and host), else in each worker's memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import msgspec

from carafe import Carafe, Depends, HTTPError, Request
from carafe.ratelimit import RateLimits, rate_limit
from carafe.responses import HTMLResponse, RedirectResponse, Response
from carafe.web.flash import flash
from carafe.web.form_binding import BoundForm, bind_form
from carafe.web.sessions import (
    MemoryStore,
    RedisStore,
    Session,
    Sessions,
    SessionStore,
    get_session,
)
from carafe.web.templating import Templates

HERE = Path(__file__).resolve().parent

# --- Models: what each form must hold --------------------------------------------------

Email = Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=50)]


class SignUp(msgspec.Struct):
    name: Name
    email: Email
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=200)]


class LogIn(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(min_length=1, max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class Profile(msgspec.Struct):
    name: Name
    bio: Annotated[str, msgspec.Meta(max_length=200)] = ""
    website: Annotated[str, msgspec.Meta(pattern=r"^(https?://\S+)?$", max_length=200)] = ""
    age: Annotated[int, msgspec.Meta(ge=13, le=130)] | None = None


class User(msgspec.Struct):
    id: int
    name: str
    email: str
    password_hash: str
    bio: str = ""
    website: str = ""
    age: int | None = None


# --- Users, in memory ------------------------------------------------------------------


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt hex>$<hash hex>``; scrypt is memory-hard, as a password hash should be."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    _, salt, _ = stored.split("$")
    return hmac.compare_digest(hash_password(password, bytes.fromhex(salt)), stored)


class Users:
    """The accounts, by id and by email (lower-cased)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_id: dict[int, User] = {}
        self._by_email: dict[str, User] = {}

    def add(self, name: str, email: str, password_hash: str) -> User | None:
        """The new user, or None when the email is taken."""
        with self._lock:
            key = email.lower()
            if key in self._by_email:
                return None
            # A random id, not a count: a count would give the first user of every worker
            # id 1, and a session naming "user 1" made on one worker would log its
            # visitor in as somebody else on another (tests/test_scaleout.py).
            user = User(secrets.randbits(62), name, email, password_hash)
            self._by_id[user.id] = self._by_email[key] = user
            return user

    def get(self, user_id: Any) -> User | None:
        return self._by_id.get(user_id) if isinstance(user_id, int) else None

    def by_email(self, email: str) -> User | None:
        return self._by_email.get(email.lower())


# A hash to check when the email is unknown, so a wrong email takes as long as a wrong
# password (no telling which emails have accounts by timing).
_DUMMY_HASH = hash_password(secrets.token_hex(8))

# --- The app ----------------------------------------------------------------------------


def session_store() -> SessionStore:
    url = os.environ.get("CARAFE_SESSION_REDIS_URL")
    return RedisStore(url, prefix="site:session:") if url else MemoryStore()


# Login tries are counted per client address; in the Redis of CARAFE_REDIS_URL when it is
# set, so that every worker and every host behind the load balancer shares one count.
login_limits = RateLimits(os.environ.get("CARAFE_REDIS_URL") or "memory://", key_prefix="site")
app = Carafe(
    title="Carafe example site",
    secret_key=os.environ.get("CARAFE_SECRET_KEY") or secrets.token_urlsafe(32),
    csrf=True,
    extensions=[login_limits],
)
store = session_store()
Sessions(app, store=store, secure=os.environ.get("CARAFE_SECURE_COOKIES") == "1")
app.state.users = Users()
app.static("/static", str(HERE / "static"))
templates = Templates(HERE / "templates")


@app.on_shutdown
async def close_store() -> None:
    if isinstance(store, RedisStore):
        await store.close()


def users_of(request: Request) -> Users:
    users: Users = request.app.state.users
    return users


async def current_user(request: Request, session: Session) -> User | None:
    return users_of(request).get(session.get("user_id"))


class LoginRequired(Exception):
    """Raised by ``logged_in_user`` for a visitor who is not logged in."""


async def logged_in_user(user: Annotated[User | None, Depends(current_user)]) -> User:
    if user is None:
        raise LoginRequired()
    return user


@app.exception_handler(LoginRequired)
async def to_login(request: Request, exc: LoginRequired) -> Response:
    flash(await get_session(request), "Please log in to see that page.", "warning")
    return RedirectResponse(f"/login?next={quote(request.path)}", 303)


@app.exception_handler(429)
async def too_many_tries(request: Request, exc: HTTPError) -> Response:
    """The login form again, saying when to try next (the only limited route)."""
    wait = exc.headers.get("Retry-After", "60")
    form = BoundForm(None, {"": f"Too many tries. Try again in {wait} seconds."}, {})
    return await templates.render(
        request, "login.html", user=None, form=form, next="", status_code=429, headers=exc.headers
    )


async def page(request: Request, name: str, user: User | None, **context: Any) -> HTMLResponse:
    return await templates.render(request, name, user=user, **context)


def empty_form() -> BoundForm[Any]:
    return BoundForm(None, {}, {})


def safe_next(target: str | None) -> str:
    """Only a path on this site: ``//evil.example`` and ``https://...`` are refused."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/account"


def log_in(session: Session, user: User) -> None:
    session.regenerate()  # a new id at login: a session id planted earlier is worthless
    session["user_id"] = user.id


CurrentUser = Annotated[User | None, Depends(current_user)]
LoggedIn = Annotated[User, Depends(logged_in_user)]


@app.get("/")
async def home(request: Request, user: CurrentUser) -> HTMLResponse:
    return await page(request, "home.html", user)


@app.get("/signup")
async def signup_page(request: Request, user: CurrentUser) -> HTMLResponse:
    return await page(request, "signup.html", user, form=empty_form())


@app.post("/signup")
async def signup(request: Request, session: Session) -> Response:
    form = bind_form(SignUp, await request.form())
    if form.value is None:
        return await templates.render(request, "signup.html", form=form, status_code=422)
    data = form.value
    password_hash = await asyncio.to_thread(hash_password, data.password)
    user = users_of(request).add(data.name, data.email, password_hash)
    if user is None:
        form.errors["email"] = "An account with this email exists; log in instead."
        return await templates.render(request, "signup.html", form=form, status_code=422)
    log_in(session, user)
    flash(session, f"Welcome, {user.name}! Your account is ready.", "success")
    return RedirectResponse("/account", 303)


@app.get("/login")
async def login_page(request: Request, user: CurrentUser, next: str = "") -> HTMLResponse:
    return await page(request, "login.html", user, form=empty_form(), next=next)


@app.post("/login", dependencies=[rate_limit("10/minute")])  # password guessing is slow
async def login(request: Request, session: Session) -> Response:
    submitted = await request.form()
    form = bind_form(LogIn, submitted)
    next_page = submitted.get("next", "")
    if form.value is None:
        return await templates.render(
            request, "login.html", form=form, next=next_page, status_code=422
        )
    user = users_of(request).by_email(form.value.email)
    stored = user.password_hash if user is not None else _DUMMY_HASH
    good = await asyncio.to_thread(check_password, form.value.password, stored)
    if user is None or not good:
        form.errors[""] = "The email or the password is wrong."
        return await templates.render(
            request, "login.html", form=form, next=next_page, status_code=401
        )
    log_in(session, user)
    flash(session, f"Hello again, {user.name}.", "success")
    return RedirectResponse(safe_next(next_page), 303)


@app.get("/account")
async def account(request: Request, user: LoggedIn) -> HTMLResponse:
    return await page(request, "account.html", user)


@app.get("/profile")
async def profile_page(request: Request, user: LoggedIn) -> HTMLResponse:
    shown = {
        "name": user.name,
        "bio": user.bio,
        "website": user.website,
        "age": "" if user.age is None else str(user.age),
    }
    return await page(request, "profile.html", user, form=BoundForm(None, {}, shown))


@app.post("/profile")
async def profile(request: Request, session: Session, user: LoggedIn) -> Response:
    form = bind_form(Profile, await request.form())
    if form.value is None:
        return await templates.render(
            request, "profile.html", user=user, form=form, status_code=422
        )
    changes = form.value
    user.name, user.bio, user.website, user.age = (
        changes.name,
        changes.bio,
        changes.website,
        changes.age,
    )
    flash(session, "Your profile is saved.", "success")
    return RedirectResponse("/account", 303)


@app.post("/logout")
async def logout(session: Session) -> RedirectResponse:
    session.clear()
    session.regenerate()
    flash(session, "You are logged out.", "info")
    return RedirectResponse("/", 303)
