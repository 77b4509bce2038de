"""CSRF: form posts and cookie-backed JSON need the token; exempt routes and mounts do not."""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
import pytest
from jinja2 import DictLoader

from carafe import Carafe, Request
from carafe.exceptions import ConfigurationError
from carafe.forms import Form
from carafe.responses import HTMLResponse, PlainTextResponse
from carafe.testing import TestClient
from carafe.web.csrf import CSRFProtect, mask, unmask
from carafe.web.sessions import MemoryStore, Session, Sessions
from carafe.web.templating import Templates

FORM = '<form method=post><input name=csrf_token value="{{ csrf_token() }}"></form>'


class Note(msgspec.Struct):
    text: str


async def other_app(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse("mounted")(scope, receive, send)


def make_app(app: Carafe) -> Carafe:
    templates = Templates(loader=DictLoader({"form.html": FORM}))

    @app.get("/form")
    async def form(request: Request) -> Any:
        return await templates.render(request, "form.html")

    @app.post("/notes")
    async def add_note(text: Annotated[str, Form()]) -> dict[str, str]:
        return {"saved": text}

    @app.post("/api/notes")
    async def add_json_note(note: Note) -> dict[str, str]:
        return {"saved": note.text}

    @app.route("/notes/{note_id}", methods=["PUT", "DELETE"])
    async def change_note(note_id: int, request: Request) -> dict[str, str]:
        return {"changed": request.method}

    @app.post("/hooks/payment")
    async def webhook(note: Note) -> dict[str, str]:
        return {"got": note.text}

    csrf = app.extensions.get("csrf")  # Carafe(csrf=True) made one, or the test did
    if csrf is not None:
        csrf.exempt(webhook)

    @app.post("/login")
    async def login(session: Session) -> dict[str, bool]:
        session["user"] = "ann"
        session.regenerate()
        return {"ok": True}

    app.mount("/legacy", other_app)
    return app


def token_from(client: TestClient) -> str:
    page = client.get("/form").text
    found = re.search(r'value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


@pytest.fixture
def client() -> Any:
    with TestClient(make_app(Carafe(secret_key="csrf-secret", csrf=True))) as client:
        yield client


def test_a_form_post_with_the_token_passes(client: TestClient) -> None:
    token = token_from(client)
    response = client.post("/notes", data={"text": "hello", "csrf_token": token})
    assert response.status_code == 200
    assert response.json() == {"saved": "hello"}


def test_a_multipart_form_with_the_token_passes(client: TestClient) -> None:
    token = token_from(client)
    response = client.post(
        "/notes",
        data={"text": "hi", "csrf_token": token},
        files={"attachment": ("a.txt", b"content", "text/plain")},
    )
    assert response.json() == {"saved": "hi"}


def test_missing_or_wrong_tokens_get_403(client: TestClient) -> None:
    token = token_from(client)
    cases = [
        ({"text": "x"}, "missing"),
        ({"text": "x", "csrf_token": ""}, "wrong"),
        ({"text": "x", "csrf_token": "not-a-token"}, "wrong"),
        ({"text": "x", "csrf_token": token[:-2]}, "wrong"),
        ({"text": "x", "csrf_token": "\u00e9" * 10}, "wrong"),
        ({"text": "x", "csrf_token": "A" * 5000}, "wrong"),
        ({"text": "x", "csrf_token": mask(b"\0" * 32)}, "wrong"),
    ]
    for data, word in cases:
        response = client.post("/notes", data=data)
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert word in response.json()["detail"]


def test_a_refusal_is_answered_by_the_apps_own_403_handler() -> None:
    app = make_app(Carafe(secret_key="csrf-secret", csrf=True))

    @app.exception_handler(403)
    async def forbidden(request: Request, exc: Exception) -> HTMLResponse:
        return HTMLResponse(f"<h1>Not from here</h1><p>{exc}</p>", status_code=403)

    with TestClient(app) as client:
        token_from(client)  # a visitor of the site, with its cookie
        response = client.post("/notes", data={"text": "x"})
        assert response.status_code == 403
        assert response.headers["content-type"].startswith("text/html")
        assert "<h1>Not from here</h1>" in response.text
        assert "missing" in response.text
        # The app keeps serving, and a good token still passes.
        response = client.post("/notes", data={"text": "y", "csrf_token": token_from(client)})
        assert response.json() == {"saved": "y"}


def test_tokens_are_masked_differently_each_time_and_all_verify(client: TestClient) -> None:
    first, second = token_from(client), token_from(client)
    assert first != second
    for token in (first, second):
        assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 200


def test_another_visitors_token_does_not_pass(client: TestClient) -> None:
    theirs = token_from(client)
    client.cookies.clear()
    token_from(client)  # a session of our own
    assert client.post("/notes", data={"text": "a", "csrf_token": theirs}).status_code == 403


def test_login_renews_the_token(client: TestClient) -> None:
    before = token_from(client)
    assert client.post("/login", headers={"x-csrf-token": before}).status_code == 200
    assert client.post("/notes", data={"text": "a", "csrf_token": before}).status_code == 403
    after = token_from(client)
    assert client.post("/notes", data={"text": "a", "csrf_token": after}).status_code == 200


def test_json_needs_the_header_and_text_plain_never_passes(client: TestClient) -> None:
    token = token_from(client)
    body = b'{"text": "hi"}'
    ok = client.post(
        "/api/notes",
        content=body,
        headers={"content-type": "application/json", "x-csrf-token": token},
    )
    assert ok.json() == {"saved": "hi"}
    # The cross-site "simple request": JSON sent as text/plain, no custom header.
    forged = client.post("/api/notes", content=body, headers={"content-type": "text/plain"})
    assert forged.status_code == 403
    no_token = client.post("/api/notes", content=body, headers={"content-type": "application/json"})
    assert no_token.status_code == 403


def test_put_and_delete_are_checked_get_is_not(client: TestClient) -> None:
    token = token_from(client)
    assert client.put("/notes/1").status_code == 403
    assert client.delete("/notes/1", headers={"x-csrf-token": token}).json() == {
        "changed": "DELETE"
    }
    assert client.get("/form").status_code == 200


def test_exempt_routes_mounts_and_unknown_paths_are_not_checked(client: TestClient) -> None:
    hook = client.post("/hooks/payment", json={"text": "paid"})
    assert hook.json() == {"got": "paid"}
    assert client.post("/legacy/anything").text == "mounted"
    assert client.post("/nowhere").status_code == 404


def test_routes_added_later_are_protected() -> None:
    app = make_app(Carafe(secret_key="k", csrf=True))
    with TestClient(app) as client:
        assert client.post("/notes", data={"text": "x"}).status_code == 403

    @app.post("/late")
    async def late() -> dict[str, bool]:
        return {"ok": True}

    with TestClient(app) as client:
        assert client.post("/late").status_code == 403
        assert client.post("/late", headers={"x-csrf-token": token_from(client)}).json() == {
            "ok": True
        }


def test_without_csrf_text_plain_json_is_still_refused_with_415() -> None:
    with TestClient(make_app(Carafe(secret_key="k"))) as client:
        response = client.post(
            "/api/notes", content=b'{"text": "hi"}', headers={"content-type": "text/plain"}
        )
        assert response.status_code == 415
        # Tokens still render (and nothing checks them) when protection is off.
        assert len(token_from(client)) > 40
        assert client.post("/notes", data={"text": "x"}).json() == {"saved": "x"}


# --- Where the secret lives: the session, else an anonymous visitor's cookie ------------


def test_anonymous_visitors_keep_their_secret_in_a_cookie_not_a_session(
    client: TestClient,
) -> None:
    page = client.get("/form")
    assert "session" not in client.cookies  # nothing to keep, so no session
    cookie = page.headers["set-cookie"]
    assert cookie.startswith("csrftoken=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    token = re.search(r'value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 200
    assert "set-cookie" not in client.get("/form").headers  # the secret is kept


def test_without_sessions_the_cookie_is_the_only_place() -> None:
    app = Carafe()
    CSRFProtect(app, secure=True)
    with TestClient(make_app(app), base_url="https://testserver") as client:
        page = client.get("/form")
        assert "Secure" in page.headers["set-cookie"]
        token = re.search(r'value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        same_site = {"origin": "https://testserver"}
        posted = client.post("/notes", data={"text": "a", "csrf_token": token}, headers=same_site)
        assert posted.status_code == 200
        client.cookies.clear()
        posted = client.post("/notes", data={"text": "a", "csrf_token": token}, headers=same_site)
        assert posted.status_code == 403


def test_the_cookie_is_signed_and_refuses_planted_values() -> None:
    app = Carafe(secret_key=["new", "old"])
    CSRFProtect(app)
    with TestClient(make_app(app)) as client:
        token = token_from(client)
        value = client.cookies["csrftoken"]
        assert "." in value
        assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 200
        planted = value.split(".")[0]  # the secret without a signature
        client.cookies.clear()
        client.cookies.set("csrftoken", planted, domain="testserver.local")
        assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 403
        client.cookies.clear()
        client.cookies.set("csrftoken", "x" * 300, domain="testserver.local")
        assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 403
        client.cookies.set("csrftoken", "abc.def", domain="testserver.local")
        assert client.post("/notes", data={"text": "a", "csrf_token": token}).status_code == 403
        client.cookies.clear()
        odd = {"cookie": f"csrftoken={planted}.\u00e9\u00e9".encode()}  # not ASCII: was a 500
        assert client.get("/form", headers=odd).status_code == 200
        posted = client.post("/notes", data={"text": "a", "csrf_token": token}, headers=odd)
        assert posted.status_code == 403


@pytest.mark.parametrize("store", [None, MemoryStore()])
def test_a_planted_cookie_and_its_token_pass_for_no_ones_session(store: Any) -> None:
    app = make_app(Carafe(secret_key="csrf-secret", csrf=True))
    if store is not None:
        Sessions(app, store=store)
    with TestClient(app) as attacker, TestClient(app) as victim:
        # The attacker's own visit gives a validly signed cookie and a token for it.
        planted_token = token_from(attacker)
        planted_cookie = attacker.cookies["csrftoken"]
        assert victim.post("/login", headers={"x-csrf-token": token_from(victim)}).json() == {
            "ok": True
        }
        victim.cookies.set("csrftoken", planted_cookie, domain="testserver.local")
        forged = victim.post("/notes", data={"text": "a", "csrf_token": planted_token})
        assert forged.status_code == 403
        assert "wrong or expired" in forged.json()["detail"]
        own = victim.post("/notes", data={"text": "a", "csrf_token": token_from(victim)})
        assert own.json() == {"saved": "a"}


# --- Origin and Referer ----------------------------------------------------------------


def post_from(client: TestClient, headers: dict[str, str]) -> Any:
    """A form post with this visitor's token, cookies and the given headers."""
    data = {"text": "a", "csrf_token": token_from(client)}
    return client.post("/notes", data=data, headers=headers)


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://testserver"},
        {"origin": "http://TESTSERVER:80"},
        {"referer": "http://testserver/form?x=1"},
        {},  # over HTTP a request with neither header passes
    ],
)
def test_posts_from_the_sites_own_pages_pass(client: TestClient, headers: dict[str, str]) -> None:
    assert post_from(client, headers).json() == {"saved": "a"}


@pytest.mark.parametrize(
    ("headers", "word"),
    [
        ({"origin": "https://evil.example"}, "Origin"),
        ({"origin": "null"}, "Origin"),  # sandboxed frames, data: URLs, some redirects
        ({"origin": "http://testserver.evil.net"}, "Origin"),
        ({"origin": "http://eviltestserver"}, "Origin"),
        ({"origin": "http://evil.net/http://testserver"}, "Origin"),
        ({"origin": "https://testserver"}, "Origin"),
        ({"origin": "http://testserver:8000"}, "Origin"),
        ({"origin": "not an origin"}, "Origin"),
        ({"origin": "https://evil.example", "referer": "http://testserver/form"}, "Origin"),
        ({"referer": "https://evil.example/page"}, "Referer"),
        ({"referer": "http://testserver.evil.net/"}, "Referer"),
    ],
)
def test_cross_site_posts_are_refused_even_with_a_valid_token(
    client: TestClient, headers: dict[str, str], word: str
) -> None:
    response = post_from(client, headers)
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert f"its {word} header is another site's" in response.json()["detail"]


def test_https_posts_need_an_origin_or_a_referer() -> None:
    app = make_app(Carafe(secret_key="k", csrf=True))
    with TestClient(app, base_url="https://example.com") as client:
        refused = post_from(client, {})
        assert refused.status_code == 403
        assert "neither" in refused.json()["detail"]
        assert post_from(client, {"origin": "https://example.com"}).status_code == 200
        assert post_from(client, {"referer": "https://example.com/form"}).status_code == 200
        assert post_from(client, {"origin": "http://example.com"}).status_code == 403


def test_trusted_origins_may_post() -> None:
    app = Carafe(secret_key="k")
    CSRFProtect(app, trusted_origins=["https://admin.example.com", "https://*.shop.example"])
    with TestClient(make_app(app), base_url="https://example.com") as client:
        assert post_from(client, {"origin": "https://admin.example.com"}).status_code == 200
        assert post_from(client, {"origin": "https://eu.shop.example"}).status_code == 200
        for evil in ("https://evilshop.example", "https://shop.example.evil.net"):
            assert post_from(client, {"origin": evil}).status_code == 403


def test_requests_without_cookies_skip_the_origin_check_not_the_token() -> None:
    with TestClient(make_app(Carafe(secret_key="k", csrf=True))) as client:
        response = client.post(
            "/notes", data={"text": "a"}, headers={"origin": "https://x.example"}
        )
        assert response.status_code == 403
        assert "token is missing" in response.json()["detail"]
        hook = client.post("/hooks/payment", json={"text": "paid"}, headers={"origin": "null"})
        assert hook.json() == {"got": "paid"}  # exempt routes are not checked at all


def test_form_errors_are_answered_by_the_check() -> None:
    with TestClient(make_app(Carafe(secret_key="k", csrf=True))) as client:
        token_from(client)
        response = client.post(
            "/notes",
            content=b"--x\r\nbroken",
            headers={"content-type": "multipart/form-data; boundary=x"},
        )
        assert response.status_code == 400


def test_token_helpers_and_settings() -> None:
    assert unmask(mask(b"s" * 32)) == b"s" * 32
    assert unmask("!!!") is None
    assert unmask("A" * 10) is None
    with pytest.raises(ConfigurationError, match="trusted_origins"):
        CSRFProtect(trusted_origins=["admin.example.com"])


async def hook(note: Note) -> dict[str, str]:
    return {"got": note.text}


def test_an_exemption_belongs_to_one_apps_protection() -> None:
    exempted, checked = Carafe(secret_key="k"), Carafe(secret_key="k")
    csrf = CSRFProtect(exempted)
    CSRFProtect(checked)
    for app in (exempted, checked):
        app.post("/hook")(hook)
    assert csrf.exempt(hook) is hook
    with TestClient(exempted, cookies={"s": "1"}) as client:
        assert client.post("/hook", json={"text": "paid"}).status_code == 200
    with TestClient(checked, cookies={"s": "1"}) as client:
        assert client.post("/hook", json={"text": "paid"}).status_code == 403
