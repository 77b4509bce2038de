"""The to-do app after chapter 1 of the tutorial: a JSON API, the to-dos in memory."""

import msgspec

from carafe import Carafe, HTTPError


class NewTodo(msgspec.Struct):
    title: str
    done: bool = False


class Todo(msgspec.Struct):
    id: int
    title: str
    done: bool


app = Carafe(title="To-do")
todos: dict[int, Todo] = {}


@app.get("/todos")
async def list_todos(done: bool | None = None) -> list[Todo]:
    """Every to-do, or only those done (or not) with ?done=true|false."""
    return [todo for todo in todos.values() if done is None or todo.done == done]


@app.post("/todos", status_code=201)
async def create_todo(new: NewTodo) -> Todo:
    todo = Todo(id=len(todos) + 1, title=new.title, done=new.done)
    todos[todo.id] = todo
    return todo


@app.get("/todos/{todo_id}")
async def read_todo(todo_id: int) -> Todo:
    if todo_id not in todos:
        raise HTTPError(404, f"No to-do {todo_id}")
    return todos[todo_id]
