"""What Conduit keeps for every worker (examples/conduit/sharing.py), in one process.

The sign-in limit, the tags cache and the comment stream, each in memory, then with a
Redis that is not there: 503s, never a 500. tests/test_conduit_cluster.py shows them
shared by two hosts behind HAProxy.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from carafe.testing import TestClient
from tests.conftest import free_port
from tests.test_conduit_api import SECRET, sign_up, write
from tests.test_conduit_api import conduit as conduit_app
from tests.test_conduit_pages import post


def conduit(tmp_path: Path, **config: Any) -> Any:
    """test_conduit_api's app on SQLite, with the tags cache on and a SECRET_KEY (pages)."""
    url = f"sqlite:///{tmp_path / 'conduit.db'}"
    return conduit_app(url, SECRET_KEY=SECRET, CACHE_TAGS=True, **config)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(conduit(tmp_path), raise_server_exceptions=False) as client:
        yield client


def login(client: TestClient, email: str, password: str) -> Any:
    return client.post("/api/users/login", json={"user": {"email": email, "password": password}})


def test_tags_are_cached_for_30_seconds(client: TestClient) -> None:
    ann = sign_up(client, "ann")
    write(client, ann, "One", tagList=["python"])
    first = client.get("/api/tags")
    assert first.json() == {"tags": ["python"]} and "age" not in first.headers
    write(client, ann, "Two", tagList=["asgi"])
    again = client.get("/api/tags")
    assert again.json() == {"tags": ["python"]}  # the cached answer, until its 30 s are up
    assert int(again.headers["age"]) >= 0
    articles = client.get("/api/articles").json()
    assert articles["articlesCount"] == 2  # the articles are never cached


def test_sign_in_tries_through_the_api_and_the_page_share_one_budget(client: TestClient) -> None:
    sign_up(client, "ann")
    for _ in range(5):
        assert login(client, "ann@example.org", "wrong-password").status_code == 422
    for _ in range(5):
        page = post(client, "/login", {"email": "ann@example.org", "password": "wrong-password"})
        assert page.status_code == 422
    refused = login(client, "ann@example.org", "ann-password")  # right, but the 11th try
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) >= 1
    (message,) = refused.json()["errors"]["body"]
    assert message.startswith("Too many requests: at most 10/minute.")
    page = post(client, "/login", {"email": "ann@example.org", "password": "ann-password"})
    assert page.status_code == 429 and "retry-after" in page.headers
    assert "Too many tries. Try again in" in page.text
    assert "Traceback" not in page.text


def test_the_429_is_documented_in_conduits_error_shape(client: TestClient) -> None:
    operation = client.get("/openapi.json").json()["paths"]["/api/users/login"]["post"]
    schema = operation["responses"]["429"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ConduitErrors"}


def test_comment_events(client: TestClient) -> None:
    ann = sign_up(client, "ann")
    slug = write(client, ann, "Talked about")["slug"]
    assert client.get("/api/articles/nothing-here/comments/events").status_code == 404
    with client.stream("GET", f"/api/articles/{slug}/comments/events") as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        lines = stream.iter_lines()
        assert next(lines) == f": comments on {slug}"
        said = {"comment": {"body": "First!"}}
        posted = client.post(f"/api/articles/{slug}/comments", json=said, headers=ann)
        assert posted.status_code == 200
        assert [next(lines), next(lines)] == ["", "event: comment"]
        event = msgspec.json.decode(next(lines).removeprefix("data: "))
        assert event == posted.json()["comment"]
        assert event["author"]["username"] == "ann"


def test_the_comment_stream_ends_when_the_app_stops(tmp_path: Path) -> None:
    app = conduit(tmp_path)
    with TestClient(app) as client:
        ann = sign_up(client, "ann")
        slug = write(client, ann, "Stopping")["slug"]
        with client.stream("GET", f"/api/articles/{slug}/comments/events") as stream:
            lines = stream.iter_lines()
            assert next(lines) == f": comments on {slug}"
            app.stopping.set()  # what `carafe run` does when the server is told to exit
            assert list(lines)[-1:] in ([], [""])  # the stream ends: this returns


def test_a_comment_from_the_page_reaches_the_stream_too(client: TestClient) -> None:
    ann = sign_up(client, "ann")
    slug = write(client, ann, "Paged")["slug"]
    post(client, "/login", {"email": "ann@example.org", "password": "ann-password"})
    with client.stream("GET", f"/api/articles/{slug}/comments/events") as stream:
        lines = stream.iter_lines()
        next(lines)
        page = f"/article/{slug}"
        answer = post(client, f"/article/{slug}/comments", {"body": "From the page"}, page=page)
        assert answer.status_code == 200 and "Your comment is posted." in answer.text
        assert [next(lines), next(lines)] == ["", "event: comment"]
        assert msgspec.json.decode(next(lines).removeprefix("data: "))["body"] == "From the page"


def test_redis_down_is_a_503_never_a_500(tmp_path: Path) -> None:
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(conduit(tmp_path, REDIS_URL=nowhere), raise_server_exceptions=False) as client:
        ann = sign_up(client, "ann")
        slug = write(client, ann, "Alone", tagList=["quiet"])["slug"]
        refused = login(client, "ann@example.org", "ann-password")
        assert refused.status_code == 503 and "retry-after" in refused.headers
        assert list(refused.json()["errors"]) == ["body"]
        said = {"comment": {"body": "Lost?"}}
        comment = client.post(f"/api/articles/{slug}/comments", json=said, headers=ann)
        assert comment.status_code == 503 and list(comment.json()["errors"]) == ["body"]
        assert client.get(f"/api/articles/{slug}/comments").json() == {"comments": []}
        tags = client.get("/api/tags")  # the cache steps aside: from the database
        assert tags.status_code == 200 and tags.json() == {"tags": ["quiet"]}
        for answer in (refused, comment, tags):
            assert "Traceback" not in answer.text
