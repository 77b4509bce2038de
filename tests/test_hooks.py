"""``before_request`` and ``after_request``: Flask's request hooks, sync or async."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from carafe import (
    Carafe,
    HTTPError,
    JSONResponse,
    PlainTextResponse,
    Request,
    Response,
)
from carafe.testing import TestClient


class Item(msgspec.Struct):
    name: str
    price: float


def make_app() -> tuple[Carafe, list[str]]:
    app = Carafe()
    calls: list[str] = []

    @app.get("/")
    def index() -> dict[str, str]:
        calls.append("handler")
        return {"hello": "world"}

    @app.post("/items")
    async def create(item: Item, request: Request) -> dict[str, Any]:
        calls.append("handler")
        return {"item": item.name, "raw": (await request.body()).decode()}

    return app, calls


# --- before_request -------------------------------------------------------------------


def test_before_request_short_circuits_with_a_response() -> None:
    app, calls = make_app()

    @app.before_request
    def require_token(request: Request) -> Response | None:
        calls.append("before")
        if request.headers.get("authorization") != "Bearer good":
            return JSONResponse({"error": "who are you?"}, status_code=401)
        return None

    client = TestClient(app)
    refused = client.get("/")
    assert refused.status_code == 401
    assert refused.json() == {"error": "who are you?"}
    assert calls == ["before"]  # the handler never ran
    allowed = client.get("/", headers={"authorization": "Bearer good"})
    assert allowed.json() == {"hello": "world"}
    assert calls == ["before", "before", "handler"]


def test_before_request_value_is_rendered_like_a_handler_result() -> None:
    app, _ = make_app()

    @app.before_request
    async def maintenance(request: Request) -> dict[str, str] | None:
        return {"status": "maintenance"} if request.query_params.get("down") else None

    client = TestClient(app)
    assert client.get("/?down=1").json() == {"status": "maintenance"}
    assert client.get("/").json() == {"hello": "world"}


def test_before_hooks_run_in_order_and_the_first_answer_wins() -> None:
    app, calls = make_app()

    @app.before_request
    async def first(request: Request) -> None:
        calls.append("first")

    @app.before_request
    def second(request: Request) -> Response:
        calls.append("second")
        return PlainTextResponse("from second")

    @app.before_request
    def third(request: Request) -> None:  # pragma: no cover - never reached
        calls.append("third")

    assert TestClient(app).get("/").text == "from second"
    assert calls == ["first", "second"]


def test_hooks_see_the_handlers_request_and_its_state() -> None:
    app = Carafe()
    requests: list[Request] = []

    @app.before_request
    async def remember(request: Request) -> None:
        requests.append(request)
        request.state.user = "ann"

    @app.get("/")
    def index(request: Request) -> dict[str, str]:
        requests.append(request)
        return {"user": request.state.user}

    @app.after_request
    def check(request: Request, response: Response) -> None:
        requests.append(request)

    assert TestClient(app).get("/").json() == {"user": "ann"}
    assert len(requests) == 3
    assert requests[0] is requests[1] is requests[2]


def test_body_read_in_a_hook_is_read_again_by_the_handler() -> None:
    app, _ = make_app()
    seen: list[Any] = []

    @app.before_request
    async def audit(request: Request) -> None:
        if request.method == "POST":
            seen.append(await request.json())

    response = TestClient(app).post("/items", json={"name": "kettle", "price": 24.5})
    assert response.json() == {"item": "kettle", "raw": '{"name":"kettle","price":24.5}'}
    assert seen == [{"name": "kettle", "price": 24.5}]


def test_oversized_body_read_in_a_hook_is_a_413() -> None:
    from carafe import Limits

    app = Carafe(limits=Limits(max_body_size=10))

    @app.before_request
    async def audit(request: Request) -> None:
        await request.body()

    @app.post("/")
    def index() -> str:  # pragma: no cover - the hook refuses first
        return "unreachable"

    response = TestClient(app).post("/", content=b"x" * 100)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"


# --- after_request --------------------------------------------------------------------


def test_after_request_modifies_the_response_in_place() -> None:
    app, _ = make_app()

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        response.headers["x-request-path"] = request.path
        response.set_cookie("seen", "1")

    response = TestClient(app).get("/")
    assert response.json() == {"hello": "world"}
    assert response.headers["x-request-path"] == "/"
    assert response.cookies["seen"] == "1"


def test_after_request_replaces_the_response() -> None:
    app, _ = make_app()

    @app.after_request
    async def wrap(request: Request, response: Response) -> Response:
        inner = msgspec.json.decode(response.body)
        return JSONResponse({"data": inner, "status": response.status_code}, status_code=203)

    response = TestClient(app).get("/")
    assert response.status_code == 203
    assert response.json() == {"data": {"hello": "world"}, "status": 200}
    assert response.headers["content-length"] == str(len(response.content))


def test_after_hooks_run_last_registered_first_on_the_rendered_result() -> None:
    app = Carafe()
    order: list[str] = []

    @app.get("/", status_code=201)
    def index() -> str:
        return "made"

    @app.before_request
    def outer_in(request: Request) -> None:
        order.append("outer in")

    @app.before_request
    def inner_in(request: Request) -> None:
        order.append("inner in")

    @app.after_request
    def outer_out(request: Request, response: Response) -> None:
        order.append("outer out saw " + response.headers["x-chain"])

    @app.after_request
    async def inner_out(request: Request, response: Response) -> None:
        order.append(f"inner out saw {response.status_code} {response.body!r}")
        response.headers["x-chain"] = "inner"

    response = TestClient(app).get("/")
    assert response.status_code == 201
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    # As in Flask: before hooks in order, after hooks in reverse, so they nest.
    assert order == ["outer in", "inner in", "inner out saw 201 b'made'", "outer out saw inner"]


def test_after_request_sees_the_before_hooks_answer() -> None:
    app, calls = make_app()

    @app.before_request
    def block(request: Request) -> Response:
        return PlainTextResponse("blocked", status_code=403)

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        response.headers["x-stamped"] = "yes"

    response = TestClient(app).get("/")
    assert (response.status_code, response.text) == (403, "blocked")
    assert response.headers["x-stamped"] == "yes"
    assert calls == []


# --- Errors in hooks ------------------------------------------------------------------


def test_http_error_in_before_request_is_a_problem_response() -> None:
    app, calls = make_app()

    @app.before_request
    def deny(request: Request) -> None:
        raise HTTPError(401, "Log in first.", {"www-authenticate": "Bearer"})

    response = TestClient(app).get("/")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["detail"] == "Log in first."
    assert calls == []


@pytest.mark.parametrize("where", ["before", "after"])
def test_crash_in_a_hook_is_a_bare_500(where: str) -> None:
    app, _ = make_app()

    def crash(*args: Any) -> None:
        raise RuntimeError("secret detail")

    if where == "before":
        app.before_request(crash)
    else:
        app.after_request(crash)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.get("/")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "secret detail" not in response.text
    assert client.get("/").status_code == 500  # and the server goes on answering


def test_hook_errors_reach_exception_handlers() -> None:
    app, _ = make_app()

    class Banned(Exception):
        pass

    @app.exception_handler(Banned)
    def banned(request: Request, exc: Banned) -> Response:
        return PlainTextResponse("banned", status_code=403)

    @app.after_request
    async def ban(request: Request, response: Response) -> None:
        raise Banned()

    response = TestClient(app).get("/")
    assert (response.status_code, response.text) == (403, "banned")


def test_after_request_sees_error_responses_too() -> None:
    app = Carafe()
    stamped: list[int] = []

    @app.get("/missing")
    def missing() -> None:
        raise HTTPError(404, "No such thing.")

    @app.get("/crash")
    def crash() -> None:
        raise RuntimeError("secret detail")

    @app.get("/items/{item_id}")
    def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @app.after_request
    def stamp(request: Request, response: Response) -> None:
        stamped.append(response.status_code)
        response.headers["x-request-id"] = "r-1"

    client = TestClient(app, raise_server_exceptions=False)
    missing_response = client.get("/missing")
    assert missing_response.status_code == 404
    assert missing_response.json()["detail"] == "No such thing."
    assert missing_response.headers["x-request-id"] == "r-1"
    crashed = client.get("/crash")
    assert crashed.status_code == 500
    assert crashed.headers["x-request-id"] == "r-1"
    assert "secret detail" not in crashed.text
    invalid = client.get("/items/abc")
    assert invalid.status_code == 422
    assert invalid.headers["x-request-id"] == "r-1"
    assert stamped == [404, 500, 422]


def test_after_request_may_replace_an_error_response() -> None:
    app = Carafe()

    @app.get("/missing")
    def missing() -> None:
        raise HTTPError(404)

    @app.after_request
    async def friendly(request: Request, response: Response) -> Response | None:
        if response.status_code == 404:
            return PlainTextResponse("Nothing here, sorry.", status_code=404)
        return None

    response = TestClient(app).get("/missing")
    assert (response.status_code, response.text) == (404, "Nothing here, sorry.")


def test_after_request_failing_on_an_error_response() -> None:
    app = Carafe()

    @app.get("/missing")
    def missing() -> None:
        raise HTTPError(404)

    @app.after_request
    def picky(request: Request, response: Response) -> None:
        if response.status_code == 404:
            raise HTTPError(410, "Gone for good.")

    response = TestClient(app).get("/missing")
    assert response.status_code == 410
    assert response.json()["detail"] == "Gone for good."


def test_no_after_request_when_the_client_is_gone() -> None:
    from carafe.exceptions import ClientDisconnect

    app = Carafe()
    stamped: list[int] = []

    @app.post("/upload")
    def upload() -> None:
        raise ClientDisconnect()  # as reading the body does when the client has left

    @app.after_request
    def stamp(request: Request, response: Response) -> None:  # pragma: no cover
        stamped.append(response.status_code)

    response = TestClient(app).post("/upload", content=b"x")
    assert response.status_code == 400  # bare, in case someone still listens
    assert stamped == []  # no hook runs for a request whose client is gone


def test_hooks_added_after_the_first_request_take_effect() -> None:
    app, _ = make_app()
    client = TestClient(app)
    assert "x-late" not in client.get("/").headers

    @app.after_request
    def late(request: Request, response: Response) -> None:
        response.headers["x-late"] = "1"

    assert client.get("/").headers["x-late"] == "1"
