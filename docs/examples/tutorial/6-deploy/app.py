"""The to-do app after chapter 6: chapter 5's, configured by its environment for production."""

import hashlib
import hmac
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import quote

import msgspec
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carafe import (
    Carafe,
    Depends,
    HTMLResponse,
    HTTPError,
    RedirectResponse,
    Request,
    Response,
    Session,
    Templates,
    bind_form,
    flash,
)
from carafe.db import Database
from carafe.web.csrf import CSRFProtect
from carafe.web.sessions import Sessions, get_session

# --- The tables -----------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class TodoRow(Base):
    __tablename__ = "todos"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)


class UserRow(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))


# --- What the API and the forms take and give -----------------------------------------


class NewTodo(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    done: bool = False


class Todo(msgspec.Struct):
    id: int
    title: str
    done: bool

    @classmethod
    def of(cls, row: TodoRow) -> "Todo":
        return cls(id=row.id, title=row.title, done=row.done)


class Credentials(msgspec.Struct):
    email: Annotated[str, msgspec.Meta(pattern=r"^[^@\s]+@[^@\s]+$", max_length=254)]
    password: Annotated[str, msgspec.Meta(min_length=8, max_length=200)]


# --8<-- [start:config]
db = Database(Base.metadata)
app = Carafe(title="To-do", extensions=[db])
# CARAFE_SECRET_KEY, CARAFE_DATABASE_URL, CARAFE_SECURE_COOKIES: app.config's keys
app.config.from_prefixed_env()
secure = bool(app.config.get("SECURE_COOKIES"))  # behind HTTPS: cookies only over HTTPS
Sessions(app, secure=secure)  # without CARAFE_SECRET_KEY, this stops the app
CSRFProtect(app, secure=secure)
templates = Templates(Path(__file__).parent / "templates")
# --8<-- [end:config]


# --- Passwords ------------------------------------------------------------------------


def hash_password(password: str, salt: bytes | None = None) -> str:
    """``scrypt$<salt>$<hash>``: scrypt is slow and memory-hard, as a password hash must be."""
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1, dklen=32)
    return f"scrypt${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    salt = bytes.fromhex(stored.split("$")[1])
    return hmac.compare_digest(hash_password(password, salt), stored)


# --- Who is logged in -----------------------------------------------------------------


async def current_user(session: Session, sql: AsyncSession) -> UserRow | None:
    """The user whose id the session holds, or None."""
    user_id = session.get("user_id")
    return await sql.get(UserRow, user_id) if isinstance(user_id, int) else None


class LoginRequired(Exception):
    """A page that needs a login was asked for by a visitor who has none."""


async def login_required(user: Annotated[UserRow | None, Depends(current_user)]) -> UserRow:
    if user is None:
        raise LoginRequired()
    return user


async def api_user(user: Annotated[UserRow | None, Depends(current_user)]) -> UserRow:
    if user is None:
        raise HTTPError(401, "Log in first")
    return user


User = Annotated[UserRow, Depends(login_required)]  # for pages: a redirect to /login
ApiUser = Annotated[UserRow, Depends(api_user)]  # for the API: a 401


@app.exception_handler(LoginRequired)
async def to_login(request: Request, exc: LoginRequired) -> Response:
    flash(await get_session(request), "Please log in first.")
    return RedirectResponse(f"/login?next={quote(request.path)}", 303)


# --- To-dos ---------------------------------------------------------------------------


async def add_todo(sql: AsyncSession, new: NewTodo) -> Todo:
    row = TodoRow(title=new.title, done=new.done)
    sql.add(row)
    await sql.flush()
    return Todo.of(row)


async def all_todos(sql: AsyncSession, done: bool | None = None) -> list[Todo]:
    query = select(TodoRow).order_by(TodoRow.id)
    if done is not None:
        query = query.where(TodoRow.done == done)
    return [Todo.of(row) for row in await sql.scalars(query)]


@app.get("/todos")
async def list_todos(sql: AsyncSession, done: bool | None = None) -> list[Todo]:
    """Every to-do, or only those done (or not) with ?done=true|false."""
    return await all_todos(sql, done)


@app.post("/todos", status_code=201)
async def create_todo(new: NewTodo, user: ApiUser, sql: AsyncSession) -> Todo:
    """Logged in only; the page's script sends the CSRF token in X-CSRF-Token."""
    return await add_todo(sql, new)


@app.get("/todos/{todo_id}")
async def read_todo(todo_id: int, sql: AsyncSession) -> Todo:
    row = await sql.get(TodoRow, todo_id)
    if row is None:
        raise HTTPError(404, f"No to-do {todo_id}")
    return Todo.of(row)


@app.get("/")
async def index(request: Request, user: User, sql: AsyncSession) -> HTMLResponse:
    return await templates.render(request, "index.html", user=user, todos=await all_todos(sql))


@app.post("/add")
async def add(request: Request, user: User, session: Session, sql: AsyncSession) -> Response:
    form = bind_form(NewTodo, await request.form())
    if not form.ok:
        todo_list = await all_todos(sql)
        return await templates.render(
            request, "index.html", user=user, todos=todo_list, form=form, status_code=422
        )
    todo = await add_todo(sql, form.value)
    flash(session, f"Added “{todo.title}”.")
    return RedirectResponse("/", 303)


# --- Signing up, logging in and out ---------------------------------------------------


def log_in(session: Session, user: UserRow) -> None:
    session.regenerate()  # a new session id (and CSRF secret) at login: no fixation
    session["user_id"] = user.id


def safe_next(target: str | None) -> str:
    """Only a path on this site, never ``//evil.example`` or ``https://...``."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@app.get("/signup")
async def signup_page(request: Request) -> HTMLResponse:
    return await templates.render(request, "signup.html", form=None)


@app.post("/signup")
async def signup(request: Request, session: Session, sql: AsyncSession) -> Response:
    form = bind_form(Credentials, await request.form())
    if form.ok:
        email = form.value.email.lower()
        if await sql.scalar(select(UserRow).where(UserRow.email == email)) is None:
            user = UserRow(email=email, password_hash=hash_password(form.value.password))
            sql.add(user)
            await sql.flush()
            log_in(session, user)
            flash(session, "Welcome!")
            return RedirectResponse("/", 303)
        form.errors["email"] = "That email already has an account."
    return await templates.render(request, "signup.html", form=form, status_code=422)


@app.get("/login")
async def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return await templates.render(request, "login.html", next=safe_next(next), failed=False)


@app.post("/login")
async def login(request: Request, session: Session, sql: AsyncSession) -> Response:
    form = await request.form()
    email, password = str(form.get("email", "")).lower(), str(form.get("password", ""))
    user = await sql.scalar(select(UserRow).where(UserRow.email == email))
    if user is None or not check_password(password, user.password_hash):
        context = {"next": safe_next(str(form.get("next", ""))), "failed": True}
        return await templates.render(request, "login.html", **context, status_code=401)
    log_in(session, user)
    return RedirectResponse(safe_next(str(form.get("next", ""))), 303)


@app.post("/logout")
async def logout(session: Session) -> RedirectResponse:
    session.clear()
    flash(session, "Logged out.")
    return RedirectResponse("/login", 303)
