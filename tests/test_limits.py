"""``Limits`` on the query string and the headers: where they apply and what a client sees."""

from __future__ import annotations

import pytest

from carafe import Carafe, Header, Limits, Request, Router
from carafe.limits import DEFAULT_LIMITS, KiB
from carafe.testing import TestClient


def make_app(**limits: int) -> Carafe:
    app = Carafe(limits=Limits(**limits) if limits else None)

    @app.get("/search")
    def search(q: str = "") -> dict[str, str]:
        return {"q": q}

    @app.get("/agent")
    def agent(user_agent: str = Header("")) -> dict[str, str]:
        return {"agent": user_agent}

    @app.get("/plain")
    def plain() -> str:
        return "ok"

    return app


def fields(count: int) -> str:
    return "&".join(f"f{i}=1" for i in range(count))


def test_defaults_are_finite() -> None:
    assert DEFAULT_LIMITS.max_query_fields == 1000
    assert DEFAULT_LIMITS.max_query_size == 32 * KiB
    assert DEFAULT_LIMITS.max_headers == 100
    assert DEFAULT_LIMITS.max_header_size == 32 * KiB


def test_query_fields_past_the_limit_are_a_400() -> None:
    client = TestClient(make_app())
    assert client.get(f"/search?{fields(999)}&q=x").json() == {"q": "x"}
    response = client.get(f"/search?{fields(1000)}&q=x")
    assert response.status_code == 400
    assert response.json()["detail"] == "The query string has more than 1000 fields."


def test_empty_query_fields_do_not_count() -> None:
    client = TestClient(make_app(max_query_fields=2))
    assert client.get("/search?a=1&&&&&q=x&").json() == {"q": "x"}
    assert client.get("/search?a=1&b=2&q=x").status_code == 400


def test_a_long_query_string_is_a_414() -> None:
    client = TestClient(make_app(max_query_size=100))
    assert client.get("/search?q=" + "a" * 98).status_code == 200
    response = client.get("/search?q=" + "a" * 99)
    assert response.status_code == 414
    assert response.json()["detail"] == "The query string is longer than the limit of 100 bytes."


def test_request_query_params_are_bounded_too() -> None:
    app = Carafe(limits=Limits(max_query_fields=1))

    @app.get("/raw")
    def raw(request: Request) -> int:
        return len(request.query_params)

    client = TestClient(app)
    assert client.get("/raw?a=1").json() == 1
    assert client.get("/raw?a=1&b=2").status_code == 400


def test_too_many_headers_are_a_431() -> None:
    client = TestClient(make_app())
    some = [(f"x-h{i}", "v") for i in range(90)]
    assert client.get("/agent", headers=some).status_code == 200
    response = client.get("/agent", headers=[(f"x-h{i}", "v") for i in range(100)])
    assert response.status_code == 431
    assert response.json()["detail"] == "The request has more than 100 headers."


def test_a_big_header_is_a_431() -> None:
    client = TestClient(make_app())
    response = client.get("/agent", headers={"user-agent": "a" * 64 * KiB})
    assert response.status_code == 431
    assert response.json()["detail"] == (
        "The request headers are larger than the limit of 32768 bytes."
    )
    assert len(response.content) < 300


def test_what_a_route_does_not_read_is_not_checked() -> None:
    # NOTE: the bounds apply where Carafe parses; the server has read the bytes already.
    client = TestClient(make_app(max_headers=1, max_query_fields=1))
    assert client.get("/plain?a=1&b=2", headers={"x-a": "1", "x-b": "2"}).text == "ok"


def test_limits_per_router_and_route() -> None:
    app = Carafe(limits=Limits(max_query_fields=1, max_headers=5))
    api = Router(prefix="/api", limits=Limits(max_query_fields=3))

    @api.get("/search")
    def search(q: str = "") -> str:
        return q

    @api.get("/wide", limits=Limits(max_query_fields=10, max_headers=50))
    def wide(q: str = "", user_agent: str = Header("")) -> str:
        return q

    app.include(api)
    client = TestClient(app)
    assert client.get("/api/search?a=1&b=2&q=x").text == "x"
    assert client.get("/api/search?a=1&b=2&c=3&q=x").status_code == 400
    many = [(f"x-h{i}", "v") for i in range(20)]
    assert client.get(f"/api/wide?{fields(9)}&q=y", headers=many).text == "y"


def test_limits_left_none_on_a_hand_made_request_bound_nothing() -> None:
    scope = {"type": "http", "headers": [(b"x", b"y" * 100)] * 200, "query_string": b"a&b"}
    request = Request(scope, limits=Limits())
    assert len(request.headers.raw) == 200
    assert list(request.query_params) == ["a", "b"]


@pytest.mark.parametrize("name", ["max_query_fields", "max_query_size", "max_headers"])
def test_new_limits_are_checked_like_the_others(name: str) -> None:
    with pytest.raises(ValueError, match=f"Limits.{name} must be a non-negative int"):
        Limits(**{name: -1})
