"""Checked by ``mypy --strict`` (tests/typing is in mypy's ``files``), and run by pytest.

``Depends(...)`` is typed as the value the dependency produces, whatever its kind, so a
mistyped parameter is a type error; route decorators and ``view`` hand back exactly what
they were given, so a decorated handler keeps its signature.
"""

from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, assert_type

from carafe import Carafe, Depends, Router
from carafe.routing.router import RouteOptions


class User:
    def __init__(self, name: str) -> None:
        self.name = name


class Pool:
    pass


def get_user() -> User:
    return User("ann")


async def get_user_async() -> User:
    return User("ann")


def user_session() -> Iterator[User]:
    yield User("ann")


async def user_session_async() -> AsyncIterator[User]:
    yield User("ann")


async def make_pool() -> AsyncIterator[Pool]:
    yield Pool()


app = Carafe()
router = Router()


@app.get("/items/{item_id}")
async def read_item(item_id: int, q: str | None = None) -> dict[str, Any]:
    return {"item_id": item_id, "q": q}


@router.post("/users", status_code=201)
def create_user(name: str, user: User = Depends(get_user)) -> str:  # noqa: B008
    return name + user.name


@app.view("/things")
class Things:
    pool: Annotated[Pool, Depends(make_pool, scope="app")]

    method_options: ClassVar[dict[str, RouteOptions]] = {"post": {"status_code": 201}}

    async def post(self) -> int:
        return 1


def test_depends_is_typed_as_the_dependency_value() -> None:
    assert_type(Depends(get_user), User)
    assert_type(Depends(get_user_async), User)
    assert_type(Depends(user_session), User)
    assert_type(Depends(user_session_async), User)
    assert_type(Depends(make_pool, scope="app"), Pool)
    assert_type(Depends(get_user, use_cache=False), User)
    assert_type(Depends(User), User)  # a class is its own dependency
    assert_type(Depends(), Any)


def test_decorators_keep_the_handler_signature() -> None:
    # Exact return types survive the decorators...
    if TYPE_CHECKING:
        _read = assert_type(read_item(1, None), Coroutine[Any, Any, dict[str, Any]])
        _post = assert_type(Things().post(), Coroutine[Any, Any, int])
    assert_type(create_user("a", User("b")), str)
    # ...and so do parameter types: each ignore below is needed (strict mypy reports an
    # unneeded one), which it would not be if a decorator had erased the signature.
    if TYPE_CHECKING:
        _bad = read_item("42")  # type: ignore[arg-type]
        _bad = read_item(1, q=2)  # type: ignore[arg-type]
        create_user(name=1)  # type: ignore[arg-type]
        _bad_post = Things().post(1)  # type: ignore[call-arg]
    handler: Callable[[int, str | None], Awaitable[dict[str, Any]]] = read_item
    assert handler.__name__ == "read_item"
    assert_type(Things, type[Things])


def test_annotated_spelling_and_default_spelling_both_check() -> None:
    async def handler(
        a: Annotated[User, Depends(get_user)],
        b: User = Depends(user_session_async),  # noqa: B008
        c: Pool = Depends(make_pool, scope="app"),  # noqa: B008
    ) -> str:
        return a.name + b.name + type(c).__name__

    if TYPE_CHECKING:
        _ok = assert_type(handler(User("a")), Coroutine[Any, Any, str])
        _bad = handler(Pool())  # type: ignore[arg-type]
