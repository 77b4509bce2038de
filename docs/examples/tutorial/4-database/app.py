"""The to-do app after chapter 4: the to-dos in a database, through SQLAlchemy."""

from pathlib import Path
from typing import Annotated

import msgspec
from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from carafe import (
    Carafe,
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

# --- The tables -----------------------------------------------------------------------


# --8<-- [start:tables]
class Base(DeclarativeBase):
    pass


class TodoRow(Base):
    __tablename__ = "todos"

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    done: Mapped[bool] = mapped_column(default=False)


# --8<-- [end:tables]


# --- What the API takes and gives -----------------------------------------------------


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


# --8<-- [start:database]
db = Database(Base.metadata)  # the URL: app.config["DATABASE_URL"], else sqlite:///app.db
app = Carafe(title="To-do", secret_key="change me", extensions=[db])
templates = Templates(Path(__file__).parent / "templates")
# --8<-- [end:database]


# --8<-- [start:queries]
async def add_todo(sql: AsyncSession, new: NewTodo) -> Todo:
    row = TodoRow(title=new.title, done=new.done)
    sql.add(row)
    await sql.flush()  # sends the INSERT now, so the id is known
    return Todo.of(row)


async def all_todos(sql: AsyncSession, done: bool | None = None) -> list[Todo]:
    query = select(TodoRow).order_by(TodoRow.id)
    if done is not None:
        query = query.where(TodoRow.done == done)
    return [Todo.of(row) for row in await sql.scalars(query)]


# --8<-- [end:queries]


# --- The JSON API ---------------------------------------------------------------------


# --8<-- [start:api]
@app.get("/todos")
async def list_todos(sql: AsyncSession, done: bool | None = None) -> list[Todo]:
    """Every to-do, or only those done (or not) with ?done=true|false."""
    return await all_todos(sql, done)


@app.post("/todos", status_code=201)
async def create_todo(new: NewTodo, sql: AsyncSession) -> Todo:
    return await add_todo(sql, new)  # committed before the 201 is sent


@app.get("/todos/{todo_id}")
async def read_todo(todo_id: int, sql: AsyncSession) -> Todo:
    row = await sql.get(TodoRow, todo_id)
    if row is None:
        raise HTTPError(404, f"No to-do {todo_id}")
    return Todo.of(row)


# --- The page -------------------------------------------------------------------------


@app.get("/")
async def index(request: Request, sql: AsyncSession) -> HTMLResponse:
    return await templates.render(request, "index.html", todos=await all_todos(sql))


@app.post("/add")
async def add(request: Request, session: Session, sql: AsyncSession) -> Response:
    form = bind_form(NewTodo, await request.form())
    if not form.ok:
        todo_list = await all_todos(sql)
        return await templates.render(
            request, "index.html", todos=todo_list, form=form, status_code=422
        )
    todo = await add_todo(sql, form.value)
    flash(session, f"Added “{todo.title}”.")
    return RedirectResponse("/", 303)


# --8<-- [end:api]
