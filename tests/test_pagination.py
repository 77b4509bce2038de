"""Pagination: limit/offset and cursor parameters as a client sends them, and the pages."""

from typing import Any

import msgspec
import pytest
from openapi_spec_validator import validate

from carafe import Carafe
from carafe.pagination import Cursor, CursorPage, LimitOffset, Page
from carafe.testing import TestClient

ITEMS = [f"item{i}" for i in range(45)]


class Row(msgspec.Struct):
    id: int


def make_app() -> Carafe:
    app = Carafe()

    @app.get("/items")
    def items(page: LimitOffset) -> Page[str]:
        return Page(page.slice(ITEMS), total=len(ITEMS))

    @app.get("/rows")
    def rows(page: Cursor) -> CursorPage[Row]:
        start = page.position or 0
        found = [Row(i) for i in range(start, min(start + page.limit, 30))]
        more = found and found[-1].id < 29
        return CursorPage(found, next=Cursor.encode(found[-1].id + 1) if more else None)

    return app


@pytest.fixture
def client() -> Any:
    with TestClient(make_app()) as client:
        yield client


def test_limit_offset_defaults_and_window(client: TestClient) -> None:
    first = client.get("/items").json()
    assert first == {"items": ITEMS[:20], "total": 45}
    assert client.get("/items?limit=2&offset=44").json()["items"] == ["item44"]
    assert client.get("/items?offset=100").json()["items"] == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=-1", "limit"),
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("offset=9223372036854775808", "offset"),  # 2**63: no database takes it
    ],
)
def test_limit_offset_out_of_bounds_is_422(client: TestClient, query: str, field: str) -> None:
    response = client.get(f"/items?{query}")
    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["errors"]] == [["query", field]]
    assert client.get("/items").status_code == 200  # still serving


def test_cursor_walks_every_row_once(client: TestClient) -> None:
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 7}
    while True:
        page = client.get("/rows", params=params).json()
        seen.extend(row["id"] for row in page["items"])
        if page["next"] is None:
            break
        params["cursor"] = page["next"]
    assert seen == list(range(30))


@pytest.mark.parametrize("cursor", ["!!!", "bm90IGpzb24", "x" * 600, "e30"[:2]])
def test_a_tampered_cursor_is_a_clear_422(client: TestClient, cursor: str) -> None:
    response = client.get("/rows", params={"cursor": cursor})
    assert response.status_code == 422
    (error,) = response.json()["errors"]
    assert error["loc"] == ["query", "cursor"]
    assert "cursor" in error["msg"].lower() or "length" in error["msg"]
    assert client.get("/rows").status_code == 200


def test_cursor_round_trip_and_first_page() -> None:
    token = Cursor.encode(["2024-01-01", 7])
    assert Cursor(cursor=token).position == ["2024-01-01", 7]
    assert Cursor().position is None
    assert "=" not in Cursor.encode("padding?")


def test_pagination_parameters_in_openapi(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    validate(document)
    items = {p["name"]: p for p in document["paths"]["/items"]["get"]["parameters"]}
    assert items["limit"]["in"] == "query"
    assert items["limit"]["schema"]["minimum"] == 1
    assert items["limit"]["schema"]["maximum"] == 100
    assert items["limit"]["schema"]["default"] == 20
    assert items["offset"]["schema"]["minimum"] == 0
    assert items["offset"]["schema"]["maximum"] == 2**63 - 1
    rows = {p["name"] for p in document["paths"]["/rows"]["get"]["parameters"]}
    assert rows == {"cursor", "limit"}
    page = document["components"]["schemas"]["CursorPage_Row_"]
    assert set(page["properties"]) == {"items", "next"}
