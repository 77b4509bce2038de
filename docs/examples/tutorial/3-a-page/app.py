"""The to-do app after chapter 3: the JSON API, and a page with a form to add to-dos."""

from pathlib import Path
from typing import Annotated

import msgspec

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


class NewTodo(msgspec.Struct):
    title: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    done: bool = False


class Todo(msgspec.Struct):
    id: int
    title: str
    done: bool


app = Carafe(title="To-do", secret_key="change me")  # the key signs the session cookie
templates = Templates(Path(__file__).parent / "templates")
todos: dict[int, Todo] = {}


def add_todo(new: NewTodo) -> Todo:
    todo = Todo(id=len(todos) + 1, title=new.title, done=new.done)
    todos[todo.id] = todo
    return todo


# --- The JSON API (chapter 1) ---------------------------------------------------------


@app.get("/todos")
async def list_todos(done: bool | None = None) -> list[Todo]:
    """Every to-do, or only those done (or not) with ?done=true|false."""
    return [todo for todo in todos.values() if done is None or todo.done == done]


@app.post("/todos", status_code=201)
async def create_todo(new: NewTodo) -> Todo:
    return add_todo(new)


@app.get("/todos/{todo_id}")
async def read_todo(todo_id: int) -> Todo:
    if todo_id not in todos:
        raise HTTPError(404, f"No to-do {todo_id}")
    return todos[todo_id]


# --- The page -------------------------------------------------------------------------


@app.get("/")
async def index(request: Request) -> HTMLResponse:
    return await templates.render(request, "index.html", todos=list(todos.values()))


@app.post("/add")
async def add(request: Request, session: Session) -> Response:
    form = bind_form(NewTodo, await request.form())
    if not form.ok:  # shown again, with the message next to the field
        todo_list = list(todos.values())
        return await templates.render(
            request, "index.html", todos=todo_list, form=form, status_code=422
        )
    todo = add_todo(form.value)
    flash(session, f"Added “{todo.title}”.")
    return RedirectResponse("/", 303)  # after a POST, a GET: reloading does not post again
