"""examples/conduit's pages, in process: what a visitor sees and can do with a browser's
forms (CSRF tokens, redirects, flash messages, forms shown again with their errors).

What was written is checked through the JSON API on the same app, which reads the same
database; each test runs on SQLite and on a real PostgreSQL.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from examples.conduit.app import create_app, db

from carafe.testing import TestClient

SECRET = "pages-secret-" + "k" * 32
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def conduit(url: str, **config: Any) -> Any:
    # Tags are read right after writes, so uncached here (test_tags_are_cached caches).
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": SECRET, "CACHE_TAGS": False, **config})

    @app.on_startup
    async def tables() -> None:
        await db.create_all(app)

    return app


@pytest.fixture(params=["sqlite", "postgresql"])
def client(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[TestClient]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'conduit.db'}"
    else:
        url = str(request.getfixturevalue("postgres_url"))
    with TestClient(conduit(url), raise_server_exceptions=False) as client:
        yield client


def token(page: httpx.Response) -> str:
    found = TOKEN.search(page.text)
    assert found is not None, page.text
    return found[1]


def post(client: TestClient, url: str, data: dict[str, str], *, page: str | None = None) -> Any:
    """Post a form the way a browser does: with the token of the page it is on."""
    shown = client.get(page or url)
    return client.post(url, data={"csrf_token": token(shown), **data})


def sign_up(client: TestClient, name: str) -> httpx.Response:
    form = {"username": name, "email": f"{name}@example.org", "password": f"{name}-password"}
    return post(client, "/register", form)


def sign_out(client: TestClient) -> httpx.Response:
    return post(client, "/logout", {}, page="/settings")


def write(client: TestClient, title: str, body: str = "Some *text*.", tags: str = "") -> Any:
    form = {"title": title, "description": f"about {title}", "body": body, "tags": tags}
    return post(client, "/editor", form)


def flashes(page: httpx.Response) -> list[str]:
    return [
        html.unescape(m)
        for m in re.findall(r'<p class="flash [^"]+" role="status">([^<]*)</p>', page.text)
    ]


def error(page: httpx.Response, field: str) -> str | None:
    found = re.search(rf'<p class="error" id="{field}-error">([^<]*)</p>', page.text)
    return None if found is None else html.unescape(found[1])


def value(page: httpx.Response, field: str) -> str | None:
    found = re.search(rf'<input id="{field}" name="{field}"[^>]*value="([^"]*)"', page.text)
    return None if found is None else html.unescape(found[1])


def api_articles(client: TestClient, **query: str) -> dict[str, Any]:
    return dict(client.get("/api/articles", params=query).json())


def slug_of(page: httpx.Response) -> str:
    found = re.fullmatch(r"/article/([^/]+)", page.url.path)
    assert found is not None, page.url
    return found[1]


# --- The whole story ------------------------------------------------------------------


def test_sign_up_write_comment_favorite_follow_edit_and_delete(client: TestClient) -> None:
    # Signing up signs the writer in and greets them on the home page.
    home = sign_up(client, "ann")
    assert home.status_code == 200 and home.url.path == "/"
    assert flashes(home) == ["Welcome to Conduit, ann!"]
    assert 'id="nav-profile" href="/profile/ann">ann</a>' in home.text

    # An article with a unicode title is shown once published, with a flash.
    shown = write(client, "Überraschung: 東京の夜", tags="travel, 日本")
    assert shown.status_code == 200
    slug = slug_of(shown)
    assert re.fullmatch(r"überraschung-東京の夜-[0-9a-f]{6}", slug)
    assert flashes(shown) == ["Your article is published."]
    assert '<h1 id="article-title">Überraschung: 東京の夜</h1>' in shown.text
    assert "<p>Some <em>text</em>.</p>" in shown.text

    # It is on the home feed, under its tag, and on the writer's profile.
    assert "Überraschung: 東京の夜" in client.get("/").text
    tagged = client.get("/", params={"tag": "日本"})
    assert "Überraschung: 東京の夜" in tagged.text and "# 日本" in tagged.text
    assert "Überraschung: 東京の夜" not in client.get("/", params={"tag": "cooking"}).text
    assert "Überraschung: 東京の夜" in client.get("/profile/ann").text

    # Comments: added, shown, deleted by their author.
    article_url = f"/article/{slug}"
    commented = post(
        client, f"{article_url}/comments", {"body": "First! <b>bold</b>"}, page=article_url
    )
    assert flashes(commented) == ["Your comment is posted."]
    assert '<p class="comment-body">First! &lt;b&gt;bold&lt;/b&gt;</p>' in commented.text
    comment_id = re.search(r'id="comment-(\d+)"', commented.text)[1]  # type: ignore[index]
    deleted = post(client, f"{article_url}/comments/{comment_id}/delete", {}, page=article_url)
    assert flashes(deleted) == ["Your comment is deleted."]
    assert "First!" not in deleted.text

    # Another user favorites the article and follows its writer; their feed has it.
    sign_out(client)
    sign_up(client, "bob")
    assert "Überraschung" not in client.get("/", params={"tab": "feed"}).text
    favorited = post(client, f"{article_url}/favorite", {"next": article_url}, page=article_url)
    assert favorited.url.path == article_url
    assert "Unfavorite article (1)" in favorited.text
    followed = post(client, "/profile/ann/follow", {"next": article_url}, page=article_url)
    assert "Unfollow ann" in followed.text
    assert "Überraschung" in client.get("/", params={"tab": "feed"}).text
    assert "Überraschung" in client.get("/profile/bob/favorites").text
    assert "Überraschung" not in client.get("/profile/bob").text

    # bob may not edit or delete ann's article: a 403 page, and it stays.
    assert client.get(f"/editor/{slug}").status_code == 403
    refused = post(client, f"{article_url}/delete", {}, page=article_url)
    assert refused.status_code == 403
    assert "Only the author may delete this article" in refused.text
    assert api_articles(client)["articlesCount"] == 1

    # Unfollow and unfavorite take it back.
    post(client, "/profile/ann/unfollow", {"next": article_url}, page=article_url)
    undone = post(client, f"{article_url}/unfavorite", {"next": article_url}, page=article_url)
    assert "Favorite article (0)" in undone.text and "Follow ann" in undone.text

    # ann edits it (a new title, a new slug), then deletes it.
    sign_out(client)
    signed_in = post(client, "/login", {"email": "ann@example.org", "password": "ann-password"})
    assert flashes(signed_in) == ["Welcome back, ann."]
    editor = client.get(f"/editor/{slug}")
    assert value(editor, "title") == "Überraschung: 東京の夜"
    assert value(editor, "tags") == "travel, 日本"
    edited = client.post(
        f"/editor/{slug}",
        data={
            "csrf_token": token(editor),
            "title": "A new title",
            "description": "d",
            "body": "b",
            "tags": "travel",
        },
    )
    assert flashes(edited) == ["Your article is saved."]
    new_slug = slug_of(edited)
    assert new_slug.startswith("a-new-title-")
    assert client.get(article_url).status_code == 404
    gone = post(client, f"/article/{new_slug}/delete", {}, page=f"/article/{new_slug}")
    assert flashes(gone) == ["Your article is deleted."]
    assert api_articles(client)["articlesCount"] == 0


def test_settings_change_the_user_and_log_out_ends_the_session(client: TestClient) -> None:
    sign_up(client, "cat")
    settings = client.get("/settings")
    assert value(settings, "username") == "cat" and value(settings, "email") == "cat@example.org"
    saved = post(
        client,
        "/settings",
        {
            "username": "kitty",
            "email": "kitty@example.org",
            "bio": "Meow",
            "image": "",
            "password": "",
        },
    )
    assert saved.url.path == "/profile/kitty"
    assert flashes(saved) == ["Your settings are saved."]
    assert '<p id="profile-bio">Meow</p>' in saved.text
    out = sign_out(client)
    assert flashes(out) == ["You are signed out."]
    assert 'id="nav-login"' in out.text
    # The old password still works (a blank one kept it), with the new email.
    back = post(client, "/login", {"email": "kitty@example.org", "password": "cat-password"})
    assert flashes(back) == ["Welcome back, kitty."]


# --- Bad input ------------------------------------------------------------------------


def test_a_taken_username_shows_the_form_again_with_the_error(client: TestClient) -> None:
    sign_up(client, "dan")
    sign_out(client)
    again = post(
        client,
        "/register",
        {"username": "dan", "email": "other@example.org", "password": "password1"},
    )
    assert again.status_code == 422
    assert error(again, "username") == "This username is taken already."
    assert value(again, "username") == "dan" and value(again, "email") == "other@example.org"
    assert value(again, "password") == ""  # never sent back
    assert 'id="nav-login"' in again.text  # not signed in
    # Nothing was written: the other email is still free.
    ok = post(
        client,
        "/register",
        {"username": "dan2", "email": "other@example.org", "password": "password1"},
    )
    assert flashes(ok) == ["Welcome to Conduit, dan2!"]


def test_bad_fields_come_back_each_with_its_message(client: TestClient) -> None:
    shown = post(client, "/register", {"username": "a b", "email": "nope", "password": "short"})
    assert shown.status_code == 422
    assert error(shown, "username") == "Use letters, digits, '.', '-' and '_' only, without spaces."
    assert error(shown, "email") == "Enter an email address, e.g. ann@example.org."
    assert error(shown, "password") == "Use at least 8 characters."
    wrong = post(client, "/login", {"email": "nobody@example.org", "password": "whatever1"})
    assert wrong.status_code == 422
    assert error(wrong, "form") == "The email or the password is wrong."


def test_a_10000_character_title_comes_back_with_an_error_and_nothing_is_written(
    client: TestClient,
) -> None:
    sign_up(client, "eve")
    long_title = "T" * 10_000
    shown = write(client, long_title, body="kept body", tags="a, b")
    assert shown.status_code == 422
    assert error(shown, "title") == "Use at most 200 characters."
    assert value(shown, "title") == long_title  # the input is kept
    assert ">kept body</textarea>" in shown.text
    blank = write(client, "   ", body="")
    assert error(blank, "title") == "This field is required."
    assert error(blank, "body") == "This field is required."
    too_many = write(client, "Tags", tags=", ".join(f"t{i}" for i in range(21)))
    assert error(too_many, "tags") == "Use at most 20 tags."
    too_long = write(client, "Tags", tags="ok, " + "x" * 65)
    assert error(too_long, "tags") == "A tag has at most 64 characters (65 given)."
    assert api_articles(client)["articlesCount"] == 0
    assert client.get("/api/tags").json() == {"tags": []}


def test_a_nul_character_is_a_field_error_or_an_error_page_never_a_500(
    client: TestClient,
) -> None:
    """PostgreSQL's text cannot hold U+0000 (SQLite's can): pages refuse it on both."""
    sign_up(client, "nel")
    slug = slug_of(write(client, "Kept"))
    nul = "This field cannot hold a NUL character."
    for url, data, field, page in [
        ("/editor", {"title": "a\x00", "description": "d", "body": "b"}, "title", None),
        ("/editor", {"title": "a", "description": "d", "body": "b", "tags": "x\x00"}, "tags", None),
        (f"/article/{slug}/comments", {"body": "a\x00"}, "body", f"/article/{slug}"),
        ("/settings", {"username": "nel", "email": "nel@example.org", "bio": "\x00"}, "bio", None),
        ("/login", {"email": "\x00", "password": "x"}, "email", None),
    ]:
        shown = post(client, url, data, page=page)
        assert (shown.status_code, error(shown, field)) == (422, nul), url
    for path, status, title in [
        ("/article/%00", 404, "Not found"),
        ("/profile/a%00", 404, "Not found"),
        ("/profile/%00/favorites", 404, "Not found"),
        ("/?tag=%00", 400, "Bad request"),
    ]:
        shown = client.get(path)
        assert shown.status_code == status, path
        assert f'<h1 id="error-title">{title}</h1>' in shown.text
    assert api_articles(client)["articlesCount"] == 1
    assert client.get(f"/api/articles/{slug}/comments").json() == {"comments": []}
    assert client.get("/api/profiles/nel").json()["profile"]["bio"] is None


def test_a_post_without_the_csrf_token_is_a_403_page_and_changes_nothing(
    client: TestClient,
) -> None:
    sign_up(client, "fay")
    data = {"title": "Forged", "description": "d", "body": "b"}
    missing = client.post("/editor", data=data)
    assert missing.status_code == 403
    assert missing.headers["content-type"] == "text/html; charset=utf-8"
    assert '<h1 id="error-title">Refused</h1>' in missing.text
    assert "The CSRF token is missing." in missing.text
    assert 'id="nav-profile"' in missing.text  # still signed in
    wrong = client.post("/editor", data={**data, "csrf_token": "x" * 86})
    assert wrong.status_code == 403 and "The CSRF token is wrong" in wrong.text
    other_site = client.post(
        "/editor",
        data={**data, "csrf_token": token(client.get("/editor"))},
        headers={"Origin": "https://evil.example"},
    )
    assert other_site.status_code == 403
    assert api_articles(client)["articlesCount"] == 0
    # The JSON API on the same app needs no CSRF token: it is authenticated by its own.
    created = client.post(
        "/api/users",
        json={"user": {"username": "api", "email": "api@example.org", "password": "password1"}},
    )
    assert created.status_code == 201


# --- Who may see what -----------------------------------------------------------------


@pytest.mark.parametrize("path", ["/editor", "/settings"])
def test_a_signed_out_visitor_is_sent_to_sign_in_and_back(client: TestClient, path: str) -> None:
    sign_up(client, "gil")
    sign_out(client)
    shown = client.get(path)
    assert shown.url.path == "/login" and shown.url.params["next"] == path
    assert flashes(shown) == ["Sign in to see that page."]
    back = client.post(
        "/login",
        data={
            "csrf_token": token(shown),
            "email": "gil@example.org",
            "password": "gil-password",
            "next": path,
        },
    )
    assert back.url.path == path


def test_sign_in_goes_back_only_to_this_site(client: TestClient) -> None:
    sign_up(client, "hal")
    sign_out(client)
    page = client.get("/login", params={"next": "//evil.example/x"})
    back = client.post(
        "/login",
        data={
            "csrf_token": token(page),
            "email": "hal@example.org",
            "password": "hal-password",
            "next": "//evil.example/x",
        },
    )
    assert back.url.host == "testserver" and back.url.path == "/"


def test_a_missing_article_or_profile_is_a_404_page(client: TestClient) -> None:
    for path in ("/article/nope", "/profile/nobody", "/profile/nobody/favorites"):
        missing = client.get(path)
        assert missing.status_code == 404
        assert '<h1 id="error-title">Not found</h1>' in missing.text


def test_markdown_is_rendered_and_html_in_it_is_text(client: TestClient) -> None:
    sign_up(client, "ivy")
    body = (
        "# Heading\n\n<script>alert(1)</script>\n\n"
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    shown = write(client, "Markdown", body=body)
    part = shown.text.split('id="article-body">', 1)[1].split("</div>", 1)[0]
    assert "<h1>Heading</h1>" in part
    assert "<script>" not in part and "&lt;script&gt;alert(1)&lt;/script&gt;" in part
    assert "<img" not in part and 'href="javascript' not in part


def test_the_home_feed_is_paged_and_filtered_by_tag(client: TestClient) -> None:
    sign_up(client, "jo")
    for n in range(12):
        write(client, f"Post number {n}", tags="even" if n % 2 == 0 else "odd")
    first = client.get("/")
    assert "Post number 11" in first.text and "Post number 2<" in first.text
    assert "Post number 1<" not in first.text
    assert '<span aria-current="page">1</span>' in first.text and 'href="/?page=2"' in first.text
    second = client.get("/", params={"page": "2"})
    assert "Post number 1<" in second.text and "Post number 0<" in second.text
    assert "Post number 11" not in second.text
    assert client.get("/", params={"page": "x"}).status_code == 200  # read as page 1
    odd = client.get("/", params={"tag": "odd"})
    assert "Post number 11" in odd.text and "Post number 10" not in odd.text
    assert '<a href="/?tag=odd">' in odd.text or "?tag=odd" in odd.text
