"""Routing: static dict + segment trie, path parameters, 404/405, HEAD/OPTIONS, routers."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from carafe import Carafe, ConfigurationError, Router
from carafe.exceptions import URLBuildError
from carafe.routing import PathTemplate, RouteTable
from carafe.testing import TestClient


def make_app() -> Carafe:
    app = Carafe()

    @app.get("/")
    async def root() -> dict[str, str]:
        return {"at": "root"}

    @app.get("/users/me")
    async def me() -> dict[str, str]:
        return {"user": "me"}

    @app.get("/users/{user_id}")
    async def user(user_id: int) -> dict[str, int]:
        return {"user_id": user_id}

    @app.get("/users/{user_id}/posts/{post_id}")
    async def post(user_id: int, post_id: uuid.UUID) -> dict[str, Any]:
        return {"user_id": user_id, "post_id": str(post_id)}

    @app.get("/price/{amount}")
    async def price(amount: float) -> dict[str, float]:
        return {"amount": amount}

    @app.get("/files/{rest:path}")
    async def files(rest: str) -> dict[str, str]:
        return {"rest": rest}

    @app.route("/form", methods=["GET", "POST"])
    async def form() -> str:
        return "form"

    @app.put("/things/{name}")
    async def put_thing(name: str) -> dict[str, str]:
        return {"put": name}

    @app.patch("/things/{name}")
    async def patch_thing(name: str) -> dict[str, str]:
        return {"patch": name}

    @app.delete("/things/{name}", status_code=204)
    async def delete_thing(name: str) -> None:
        return None

    return app


@pytest.fixture
def client() -> TestClient:
    return TestClient(make_app())


def test_static_and_dynamic_paths(client: TestClient) -> None:
    assert client.get("/").json() == {"at": "root"}
    assert client.get("/users/me").json() == {"user": "me"}
    assert client.get("/users/7").json() == {"user_id": 7}
    post_id = uuid.uuid4()
    assert client.get(f"/users/7/posts/{post_id}").json() == {
        "user_id": 7,
        "post_id": str(post_id),
    }
    assert client.get("/price/2.5").json() == {"amount": 2.5}


def test_literal_segment_wins_and_backtracks() -> None:
    app = Carafe()

    @app.get("/a/b/c")
    async def literal() -> str:
        return "literal"

    @app.get("/a/{x}/d")
    async def param(x: str) -> str:
        return f"param {x}"

    client = TestClient(app)
    assert client.get("/a/b/c").text == "literal"
    # "b" matches the literal branch first, which dead-ends at "d": the walk backtracks.
    assert client.get("/a/b/d").text == "param b"


def test_path_converter_takes_the_rest(client: TestClient) -> None:
    assert client.get("/files/a/b/c.txt").json() == {"rest": "a/b/c.txt"}
    assert client.get("/files/one").json() == {"rest": "one"}


@pytest.mark.parametrize(
    "path",
    [
        "/files/%2e%2e/admin/x",
        "/files/a/%2E%2e/%2e%2e/etc/passwd",
        "/files/%2e/x",
        "/files/a/%2e%2e",
        "/things/%2e%2e",
        "/users/%2e%2e",
    ],
)
def test_dot_segments_reach_no_parameter(client: TestClient, path: str) -> None:
    # httpx resolves a literal "/../" itself; a server passes it on (test_bad_input.py).
    response = client.request("PUT" if path.startswith("/things") else "GET", path)
    assert response.status_code == 404
    assert response.json()["detail"].startswith("Nothing is at /")


def test_names_with_dots_are_not_dot_segments(client: TestClient) -> None:
    assert client.get("/files/.well-known/a..b/...").json() == {"rest": ".well-known/a..b/..."}
    assert client.put("/things/.env").json() == {"put": ".env"}


def test_percent_encoded_segment_is_decoded(client: TestClient) -> None:
    assert client.put("/things/a%20b").json() == {"put": "a b"}


def test_bad_path_parameter_is_422(client: TestClient) -> None:
    response = client.get("/users/abc")
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 422
    assert body["errors"] == [
        {"loc": ["path", "user_id"], "msg": "Expected `int`, got `str`", "type": "type_error"}
    ]
    bad_uuid = client.get("/users/1/posts/not-a-uuid").json()
    assert bad_uuid["errors"][0]["loc"] == ["path", "post_id"]


def test_not_found_is_problem_json(client: TestClient) -> None:
    response = client.get("/nowhere/at/all")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Nothing is at /nowhere/at/all.",
    }


def test_method_not_allowed_lists_allow(client: TestClient) -> None:
    response = client.post("/users/1")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD"
    assert "POST is not allowed" in response.json()["detail"]
    response = client.request("BREW", "/")
    assert response.status_code == 405


def test_head_answers_every_get_without_body(client: TestClient) -> None:
    get = client.get("/users/3")
    head = client.head("/users/3")
    assert head.status_code == 200
    assert head.content == b""
    assert head.headers["content-length"] == get.headers["content-length"]
    assert head.headers["content-type"] == "application/json"


def test_explicit_head_route_wins() -> None:
    app = Carafe()

    @app.get("/x")
    async def get_x() -> str:
        return "get"

    @app.head("/x")
    async def head_x() -> str:
        return "explicit"

    response = TestClient(app).head("/x")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len("explicit"))


def test_options_is_answered_with_allow(client: TestClient) -> None:
    response = client.options("/things/x")
    assert response.status_code == 204
    assert response.headers["allow"] == "DELETE, PATCH, PUT, OPTIONS"


def test_explicit_options_route() -> None:
    app = Carafe()

    @app.options("/o")
    async def opts() -> str:
        return "mine"

    assert TestClient(app).options("/o").text == "mine"


def test_methods_and_status_codes(client: TestClient) -> None:
    assert client.get("/form").text == "form"
    assert client.post("/form").text == "form"
    assert client.patch("/things/t").json() == {"patch": "t"}
    deleted = client.delete("/things/t")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert "content-type" not in deleted.headers


def test_trailing_slash_redirects(client: TestClient) -> None:
    response = client.get("/users/me/?x=1", follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/users/me?x=1"
    assert client.get("/users/me/").json() == {"user": "me"}


def test_router_prefix_tags_and_nesting() -> None:
    app = Carafe()
    api = Router(prefix="/api", tags=["api"])
    v1 = Router(prefix="/v1", name="v1")

    @v1.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    @api.get("")
    async def api_root() -> str:
        return "api root"

    api.include(v1)
    app.include(api)
    client = TestClient(app)
    assert client.get("/api/v1/items/5").json() == {"item_id": 5}
    assert client.get("/api").text == "api root"
    assert app.url_path_for("v1.item", item_id=5) == "/api/v1/items/5"
    compiled = {c.route.name: c.route for c in app.compile()}
    assert compiled["v1.item"].tags == ("api",)


def test_include_with_extra_prefix() -> None:
    app = Carafe()
    router = Router()

    @router.get("/ping")
    async def ping() -> str:
        return "pong"

    app.include(router, prefix="/svc")
    assert TestClient(app).get("/svc/ping").text == "pong"


def test_url_path_for() -> None:
    app = make_app()
    assert app.url_path_for("user", user_id=3) == "/users/3"
    assert app.url_path_for("files", rest="a b/c") == "/files/a%20b/c"
    assert app.url_path_for("put_thing", name="a/b") == "/things/a%2Fb"
    with pytest.raises(URLBuildError, match="No route is named"):
        app.url_path_for("missing")
    with pytest.raises(URLBuildError, match="needs exactly"):
        app.url_path_for("user")


def test_path_parameter_without_argument_fails_at_startup() -> None:
    app = Carafe()

    @app.get("/items/{item_id}")
    async def broken() -> str:
        return "never"

    with pytest.raises(ConfigurationError, match="item_id"):
        TestClient(app)


def test_two_routes_with_one_name_fail_at_startup() -> None:
    app = Carafe()

    @app.get("/a", name="dup")
    async def a() -> str:
        return "a"

    @app.get("/b", name="dup")
    async def b() -> str:
        return "b"

    with pytest.raises(ConfigurationError, match="named 'dup'"):
        app.compile()


def test_same_name_for_several_methods_of_one_path_is_fine() -> None:
    app = Carafe()

    @app.get("/a", name="thing")
    async def read() -> str:
        return "r"

    @app.post("/a", name="thing")
    async def write() -> str:
        return "w"

    assert app.url_path_for("thing") == "/a"


def test_duplicate_method_and_path_fails() -> None:
    app = Carafe()
    app.add_route("/a", lambda: "x", ["GET"], name="one")
    app.add_route("/a", lambda: "y", ["GET"], name="two")
    with pytest.raises(ConfigurationError, match="Two routes answer GET /a"):
        app.compile()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("items", "must start with '/'"),
        ("/items/{id", "whole segment"),
        ("/items/x{id}", "whole segment"),
        ("/items/{1id}", "not a valid name"),
        ("/items/{id:int}", "unknown converter"),
        ("/items/{id}/{id}", "twice"),
        ("/files/{rest:path}/more", "last segment"),
        ("/a/../b", "'..' segment"),
        ("/a/./b", "'.' segment"),
    ],
)
def test_bad_path_templates(path: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        PathTemplate(path)


def test_bad_prefixes_and_cycles() -> None:
    with pytest.raises(ConfigurationError):
        Router(prefix="api")
    with pytest.raises(ConfigurationError):
        Router(prefix="/api/")
    router = Router()
    with pytest.raises(ConfigurationError):
        router.include(router)
    with pytest.raises(ConfigurationError):
        router.include(Router(), prefix="x")
    with pytest.raises(ConfigurationError, match="at least one method"):
        router.add_route("/x", lambda: None, [])
    a, b = Router(), Router()
    a.include(b)
    b.include(a)
    app = Carafe()
    app.include(a)
    with pytest.raises(ConfigurationError, match="cycle"):
        app.compile()


def test_route_table_cost_does_not_scan() -> None:
    """Thousands of routes: a lookup touches one dict per segment, not every route."""
    table: RouteTable[str] = RouteTable()
    for i in range(5000):
        table.add(PathTemplate(f"/r{i}/{{x}}"), "GET", f"e{i}")
        table.add(PathTemplate(f"/s{i}"), "GET", f"s{i}")
    found = table.match("/r4999/abc")
    assert found is not None
    assert found[0]["GET"] == "e4999"
    assert found[1] == ["abc"]
    static = table.match("/s17")
    assert static is not None
    assert static[0]["GET"] == "s17"
    assert static[1] == []
    assert table.match("/r1") is None
    assert table.match("/r1/") is None  # a parameter never matches an empty segment


def test_routes_added_after_first_request_are_seen() -> None:
    app = Carafe()

    @app.get("/one")
    async def one() -> str:
        return "1"

    client = TestClient(app)
    assert client.get("/one").text == "1"

    @app.get("/two")
    async def two() -> str:
        return "2"

    assert client.get("/two").text == "2"
