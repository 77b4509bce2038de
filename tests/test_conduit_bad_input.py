"""examples/conduit's JSON API against the bad input issue #11 names, on SQLite and on a
real PostgreSQL: malformed and forged JWTs, expired tokens, duplicate usernames, unicode
slugs, 10,000-character values, comments on missing articles, ``limit=-1`` and
SQL-looking strings. Each answer has the spec's status and ``{"errors": {...}}`` shape,
leaks nothing (no traceback, path, SQL or key) and writes nothing half-way: what the API
shows afterwards is what it showed before."""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import warnings
from typing import Any

import httpx
import jwt
import jwt.warnings
import pytest

from carafe.testing import TestClient
from tests.conftest import ROOT
from tests.test_conduit_api import SECRET, sign_up, write
from tests.test_conduit_api import client as client  # noqa: PLC0414 - the fixture, shared
from tests.test_conduit_api import database_url as database_url  # noqa: PLC0414

# What an answer must never show: Python's, the database's or this machine's insides.
LEAKS = re.compile(
    r"Traceback|File \"|sqlalchemy|sqlite|asyncpg|psycopg|\[SQL:|Background on this error|"
    r"Error:|" + re.escape(str(ROOT)) + "|" + re.escape(SECRET),
    re.IGNORECASE,
)


def refused(answer: httpx.Response, status: int) -> dict[str, list[str]]:
    """The ``errors`` of an answer with ``status`` in Conduit's shape, checked for leaks."""
    assert answer.status_code == status, (answer.request.url, answer.text[:300])
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert list(body) == ["errors"], body
    errors = body["errors"]
    assert errors and all(
        isinstance(messages, list) and messages and all(isinstance(m, str) for m in messages)
        for messages in errors.values()
    ), body
    assert not LEAKS.search(answer.text), answer.text[:300]
    return dict(errors)


def snapshot(client: TestClient, slug: str) -> dict[str, Any]:
    """What anyone can see: the articles, the tags, ann's profile, one article's comments."""
    return {
        "articles": client.get("/api/articles", params={"limit": 100}).json(),
        "tags": client.get("/api/tags").json(),
        "ann": client.get("/api/profiles/ann").json(),
        "comments": client.get(f"/api/articles/{slug}/comments").json(),
        "article": client.get(f"/api/articles/{slug}").json(),
    }


@pytest.fixture
def world(client: TestClient) -> tuple[dict[str, str], str]:
    """ann, signed up, with one commented article: her headers and its slug."""
    ann = sign_up(client, "ann")
    slug = write(client, ann, "First", tagList=["seed"])["slug"]
    said = client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=ann
    )
    assert said.status_code == 200
    return ann, slug


def writes(slug: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every write the API has, each with a valid body."""
    article = {"article": {"title": "New", "description": "d", "body": "b", "tagList": ["t"]}}
    return [
        ("POST", "/api/articles", article),
        ("PUT", f"/api/articles/{slug}", {"article": {"title": "Changed"}}),
        ("DELETE", f"/api/articles/{slug}", None),
        ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": "mine"}}),
        ("DELETE", f"/api/articles/{slug}/comments/1", None),
        ("POST", f"/api/articles/{slug}/favorite", None),
        ("POST", "/api/profiles/ann/follow", None),
        ("PUT", "/api/user", {"user": {"bio": "changed"}}),
    ]


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _signed(claims: dict[str, Any], algorithm: str = "HS256") -> str:
    with warnings.catch_warnings():  # the test key is short for HS512: so be it
        warnings.simplefilter("ignore", jwt.warnings.InsecureKeyLengthWarning)
        return jwt.encode(claims, SECRET, algorithm=algorithm)


TOMORROW = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
MALFORMED = {
    "not a jwt": "not.a.jwt",
    "only dots": "...",
    "junk header": "eyJhbGciOi.eyJzdWIiOiIxIn0.abc",
    "a space inside": "abc def",
    "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': '1', 'exp': 2**40})}.",
    "another algorithm": _signed({"sub": "1", "exp": TOMORROW}, "HS512"),
    "a name for a subject": _signed({"sub": "admin", "exp": TOMORROW}),
    "a negative subject": _signed({"sub": "-1", "exp": TOMORROW}),
    "a 40-digit subject": _signed({"sub": "9" * 40, "exp": TOMORROW}),
    "non-ASCII digits": _signed({"sub": "\u0661", "exp": TOMORROW}),  # ARABIC-INDIC ONE
    "a number for a subject": _signed({"sub": 1, "exp": TOMORROW}),
    "no expiry": _signed({"sub": "1"}),
    "no subject": _signed({"exp": TOMORROW}),
    "an expiry in words": _signed({"sub": "1", "exp": "tomorrow"}),
    "not valid yet": _signed({"sub": "1", "exp": TOMORROW, "nbf": TOMORROW}),
}


@pytest.mark.parametrize("token", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_and_forged_tokens_are_401s_that_write_nothing(
    client: TestClient, world: tuple[dict[str, str], str], token: str
) -> None:
    _, slug = world
    before = snapshot(client, slug)
    auth = {"Authorization": f"Token {token}"}
    for method, path, body in [("GET", "/api/user", None), *writes(slug)]:
        answer = client.request(method, path, json=body, headers=auth)
        assert refused(answer, 401) == {"body": ["The token is not valid"]}, (method, path)
        assert answer.headers["www-authenticate"] == 'Token error="invalid_token"'
    for path in ("/api/articles", f"/api/articles/{slug}", "/api/profiles/ann"):
        assert client.get(path, headers=auth).status_code == 401  # optional auth too
    assert snapshot(client, slug) == before


def test_an_authorization_header_that_is_not_text_is_a_401(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    for header in (b"Token \xff\xfe", b"Token caf\xc3\xa9", "Token " + "x" * 20_000):
        answer = client.get("/api/user", headers={"Authorization": header})
        assert refused(answer, 401) == {"body": ["The token is not valid"]}
    twice = client.get("/api/user", headers=[("Authorization", "Token a"), ("Authorization", "b")])
    assert twice.status_code == 401


def test_an_expired_token_writes_nothing_and_says_to_log_in(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    _, slug = world
    before = snapshot(client, slug)
    expired = _signed({"sub": "1", "exp": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)})
    auth = {"Authorization": f"Token {expired}"}
    for method, path, body in [("GET", "/api/user", None), *writes(slug)]:
        answer = client.request(method, path, json=body, headers=auth)
        assert refused(answer, 401) == {"body": ["The token has expired; log in again"]}
    assert snapshot(client, slug) == before
    logged_in = client.post(
        "/api/users/login", json={"user": {"email": "ann@example.org", "password": "ann-password"}}
    )
    assert logged_in.status_code == 200  # and a new token is one login away


# --- Duplicate usernames --------------------------------------------------------------


def test_duplicate_usernames_are_422s_and_write_nothing(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    ann, slug = world
    bob = sign_up(client, "bob")
    before = snapshot(client, slug)

    def register(username: str, email: str) -> httpx.Response:
        user = {"username": username, "email": email, "password": "password1"}
        return client.post("/api/users", json={"user": user})

    taken = {"username": ["has already been taken"]}
    assert refused(register("ann", "new@example.org"), 422) == taken
    assert refused(register("ann", "ann@example.org"), 422) == taken  # the first found
    assert refused(register("new", "ann@example.org"), 422) == {"email": ["has already been taken"]}
    for lookalike in ("ann ", " ann", "ann\u0000", "ann\n", "an\u200bn", "zoe\u0301"):
        assert refused(register(lookalike, "new@example.org"), 422) == {"username": ["is invalid"]}
    changed = client.put("/api/user", json={"user": {"username": "ann", "bio": "b"}}, headers=bob)
    assert refused(changed, 422) == taken
    assert client.get("/api/user", headers=bob).json()["user"]["bio"] is None  # not half-way
    assert snapshot(client, slug) == before
    logged_in = client.post(
        "/api/users/login", json={"user": {"email": "new@example.org", "password": "password1"}}
    )
    assert refused(logged_in, 422) == {"email or password": ["is invalid"]}  # no account made
    assert client.get("/api/user", headers=ann).json()["user"]["username"] == "ann"


# --- Unicode slugs --------------------------------------------------------------------


def test_unicode_slugs_are_served_and_followed_by_their_comments(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    ann, _ = world
    for title in ("東京 2024", "Crème brûlée", "Cre\u0300me", "Ωmega 🐉", "مرحبا", "Ǆ ǅ ǆ"):
        slug = write(client, ann, title)["slug"]
        assert client.get(f"/api/articles/{slug}").json()["article"]["title"] == title
        raw = httpx.URL(f"/api/articles/{slug}").raw_path.decode()  # percent-encoded
        assert client.get(raw).json()["article"]["slug"] == slug
        said = client.post(
            f"/api/articles/{slug}/comments", json={"comment": {"body": title}}, headers=ann
        )
        assert said.status_code == 200, said.text
        assert client.post(f"/api/articles/{slug}/favorite", headers=ann).status_code == 200
        assert client.get(f"/api/articles/{slug}/comments").json()["comments"][0]["body"] == title
    # Not UTF-8 (a lone byte, half a character): decoded with replacement, not found.
    for missing in ("/api/articles/%ff", "/api/articles/%E6%9D", "/api/articles/東"):
        assert refused(client.get(missing), 404)["body"][0].startswith("No article "), missing


# --- 10,000-character values ----------------------------------------------------------

LONG = "x" * 10_000


def test_10000_character_values_are_422s_naming_the_field_and_write_nothing(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    ann, slug = world
    before = snapshot(client, slug)
    article = {"title": "t", "description": "d", "body": "b"}
    cases: list[tuple[str, str, dict[str, Any], dict[str, list[str]]]] = [
        (
            "POST",
            "/api/articles",
            {"article": {**article, "title": LONG}},
            {"title": ["is too long (maximum is 200 characters)"]},
        ),
        (
            "POST",
            "/api/articles",
            {"article": {**article, "tagList": ["ok", LONG]}},
            {"tagList": ["is too long (maximum is 64 characters)"]},
        ),
        (
            "POST",
            "/api/articles",
            {"article": {**article, "body": "b" * 100_001}},
            {"body": ["is too long (maximum is 100000 characters)"]},
        ),
        (
            "PUT",
            f"/api/articles/{slug}",
            {"article": {"title": LONG, "body": "new body"}},
            {"title": ["is too long (maximum is 200 characters)"]},
        ),
        (
            "PUT",
            f"/api/articles/{slug}",
            {"article": {"description": LONG}},
            {"description": ["is too long (maximum is 2000 characters)"]},
        ),
        (
            "POST",
            f"/api/articles/{slug}/comments",
            {"comment": {"body": "c" + LONG}},
            {"body": ["is too long (maximum is 10000 characters)"]},
        ),
        (
            "PUT",
            "/api/user",
            {"user": {"username": LONG, "bio": "half-way?"}},
            {"username": ["is too long (maximum is 64 characters)"]},
        ),
        (
            "POST",
            "/api/users",
            {"user": {"username": "new", "email": LONG + "@example.org", "password": LONG}},
            {
                "email": ["is too long (maximum is 254 characters)"],
                "password": ["is too long (maximum is 256 characters)"],
            },
        ),
        (
            "POST",
            "/api/users/login",
            {"user": {"email": "ann@example.org", "password": LONG}},
            {"password": ["is too long (maximum is 256 characters)"]},
        ),
    ]
    for method, path, body, errors in cases:
        answer = client.request(method, path, json=body, headers=ann)
        assert refused(answer, 422) == errors, (method, path)
    for path in (
        f"/api/articles/{LONG}",
        f"/api/profiles/{LONG}",
        f"/api/articles/{LONG}/comments",
    ):
        assert "No " in refused(client.get(path), 404)["body"][0]
    assert snapshot(client, slug) == before
    assert client.get("/api/user", headers=ann).json()["user"]["bio"] is None


# --- A comment on a missing article ---------------------------------------------------


@pytest.mark.parametrize(
    "slug", ["no-such-article", "東京-2024-abcdef", "' OR '1'='1", "x" * 10_000, "%25"]
)
def test_a_comment_on_a_missing_article_is_a_404_and_writes_nothing(
    client: TestClient, world: tuple[dict[str, str], str], slug: str
) -> None:
    ann, existing = world
    before = snapshot(client, existing)
    shown = httpx.URL(f"/api/articles/{slug}").path.removeprefix("/api/articles/")
    answer = client.post(
        f"/api/articles/{slug}/comments", json={"comment": {"body": "into the void"}}, headers=ann
    )
    assert refused(answer, 404) == {"body": [f"No article {shown!r}"]}
    assert refused(client.get(f"/api/articles/{slug}/comments"), 404)
    assert refused(client.delete(f"/api/articles/{slug}/comments/1", headers=ann), 404)
    assert snapshot(client, existing) == before
    assert client.get(f"/api/articles/{existing}/comments").json()["comments"][0]["id"] == 1


# --- limit=-1 and other pages that cannot be ------------------------------------------


@pytest.mark.parametrize("path", ["/api/articles", "/api/articles/feed"])
def test_limit_minus_one_and_its_kin_are_422s_naming_the_parameter(
    client: TestClient, world: tuple[dict[str, str], str], path: str
) -> None:
    ann, _ = world
    for query, errors in {
        "limit=-1": {"limit": ["Expected `int` >= 1"]},
        "limit=0": {"limit": ["Expected `int` >= 1"]},
        "offset=-1": {"offset": ["Expected `int` >= 0"]},
        "limit=-1&offset=-1": {"limit": ["Expected `int` >= 1"], "offset": ["Expected `int` >= 0"]},
        "limit=1.5": {"limit": ["Expected `int`, got `str`"]},
        "limit=1e3": {"limit": ["Expected `int` <= 100"]},
        "limit=": {"limit": ["Expected `int`, got `str`"]},
        f"limit={'9' * 400}": {"limit": ["Expected `int` <= 100"]},
        "limit=1;DROP TABLE articles": {"limit": ["Expected `int`, got `str`"]},
    }.items():
        assert refused(client.get(f"{path}?{query}", headers=ann), 422) == errors, query
    assert client.get("/api/articles?limit=1").json()["articlesCount"] == 1


# --- SQL-looking strings --------------------------------------------------------------

SQL = ["' OR '1'='1", "'; DROP TABLE users; --", '" OR ""="', "%", "_", "\\", "1 UNION SELECT 1"]


@pytest.mark.parametrize("text", SQL)
def test_sql_looking_strings_are_only_text(
    client: TestClient, world: tuple[dict[str, str], str], text: str
) -> None:
    ann, slug = world
    before = snapshot(client, slug)
    for field in ("tag", "author", "favorited"):  # % and _ are not wildcards either
        found = client.get("/api/articles", params={field: text}).json()
        assert found == {"articles": [], "articlesCount": 0}, field
    for path in (
        f"/api/profiles/{text}",
        f"/api/articles/{text}",
        f"/api/articles/{text}/comments",
    ):
        answer = client.get(httpx.URL(path).raw_path.decode(), headers=ann)
        assert refused(answer, 404)["body"][0].startswith("No "), path
    login = client.post("/api/users/login", json={"user": {"email": text, "password": text}})
    assert refused(login, 422) == {"email or password": ["is invalid"]}
    sign_up_as = client.post(
        "/api/users", json={"user": {"username": text, "email": "e@example.org", "password": text}}
    )
    assert refused(sign_up_as, 422)
    assert (
        client.post(
            "/api/users/login", json={"user": {"email": "e@example.org", "password": text}}
        ).status_code
        == 422
    )
    assert snapshot(client, slug) == before
    kept = write(client, ann, text + " title", description=text, body=text, tagList=[text])
    assert (kept["description"], kept["body"], kept["tagList"]) == (text, text, [text])
    assert client.get("/api/articles", params={"tag": text}).json()["articlesCount"] == 1


# --- NUL characters -------------------------------------------------------------------


def test_a_nul_character_is_a_422_on_every_database(
    client: TestClient, world: tuple[dict[str, str], str]
) -> None:
    """PostgreSQL's text cannot hold U+0000, SQLite's can: the API refuses it on both,
    in a body, a path or a query, before the database sees it."""
    ann, slug = world
    before = snapshot(client, slug)
    article = {"title": "t", "description": "d", "body": "b"}
    for method, path, body, errors in [
        ("POST", "/api/articles", {"article": {**article, "title": "nul\u0000"}}, ["title"]),
        (
            "POST",
            "/api/articles",
            {"article": {**article, "body": "\u0000", "tagList": ["ok", "\u0000"]}},
            ["body", "tagList"],
        ),
        ("PUT", f"/api/articles/{slug}", {"article": {"description": "a\u0000"}}, ["description"]),
        ("POST", f"/api/articles/{slug}/comments", {"comment": {"body": "a\u0000b"}}, ["body"]),
        ("PUT", "/api/user", {"user": {"bio": "\u0000", "image": "\u0000"}}, ["bio", "image"]),
        (
            "POST",
            "/api/users",
            {"user": {"username": "nul", "email": "n\u0000@x.org", "password": "12345678"}},
            ["email"],
        ),
        ("POST", "/api/users/login", {"user": {"email": "\u0000", "password": "x"}}, ["email"]),
    ]:
        answer = client.request(method, path, json=body, headers=ann)
        assert refused(answer, 422) == {key: ["is invalid"] for key in errors}, (method, path)
    for path, name in [
        ("/api/articles/%00", "slug"),
        ("/api/articles/a%00b/comments", "slug"),
        ("/api/profiles/%00", "username"),
        ("/api/articles?tag=%00", "tag"),
        ("/api/articles?author=a%00", "author"),
        ("/api/articles?favorited=%00", "favorited"),
    ]:
        assert refused(client.get(path, headers=ann), 422) == {name: ["is invalid"]}, path
    assert refused(client.post("/api/profiles/%00/follow", headers=ann), 422)
    assert snapshot(client, slug) == before
