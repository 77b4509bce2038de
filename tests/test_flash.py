"""Flash messages: kept across a redirect, shown once, with categories and filters."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import DictLoader

from carafe import Carafe, Request
from carafe.responses import RedirectResponse
from carafe.testing import TestClient
from carafe.web.flash import flash, get_flashed_messages
from carafe.web.sessions import Session
from carafe.web.templating import Templates

PAGE = (
    "{% for category, message in get_flashed_messages(with_categories=true) %}"
    "<p class={{ category }}>{{ message }}</p>{% endfor %}"
)


def make_app() -> Carafe:
    app = Carafe(secret_key="flash-secret")
    templates = Templates(loader=DictLoader({"page.html": PAGE}))

    @app.post("/save")
    async def save(session: Session, request: Request) -> RedirectResponse:
        flash(session, "Saved.", "success")
        flash(request, "<script>alert(1)</script>", "error")
        flash(session, "Plain note.")
        return RedirectResponse("/page", 303)

    @app.get("/page")
    async def page(request: Request) -> Any:
        return await templates.render(request, "page.html")

    @app.get("/messages")
    async def messages(session: Session, only: str | None = None) -> list[Any]:
        if only:
            return get_flashed_messages(session, category_filter=[only])
        return get_flashed_messages(session)

    @app.get("/pairs")
    async def pairs(request: Request, session: Session) -> list[Any]:
        return get_flashed_messages(request, with_categories=True)

    return app


def test_flashed_messages_survive_a_redirect_and_show_once() -> None:
    with TestClient(make_app()) as client:
        page = client.post("/save", follow_redirects=True)
        assert page.status_code == 200
        assert page.text == (
            "<p class=success>Saved.</p>"
            "<p class=error>&lt;script&gt;alert(1)&lt;/script&gt;</p>"
            "<p class=message>Plain note.</p>"
        )
        assert client.get("/page").text == ""


def test_messages_without_categories_and_filtered() -> None:
    with TestClient(make_app()) as client:
        client.post("/save", follow_redirects=False)
        assert client.get("/messages", params={"only": "error"}).json() == [
            "<script>alert(1)</script>"
        ]
        # The other categories wait for a later call.
        assert client.get("/pairs").json() == [["success", "Saved."], ["message", "Plain note."]]
        assert client.get("/messages").json() == []


def test_flash_with_a_request_needs_the_session_loaded() -> None:
    app = Carafe(secret_key="k")

    @app.get("/early")
    async def early(request: Request) -> None:
        flash(request, "too soon")

    with pytest.raises(RuntimeError, match="session: Session"):
        TestClient(app).get("/early")


def test_junk_in_the_flash_slot_is_ignored() -> None:
    session = Session({"_flashes": [["ok", "fine"], "junk", [1, 2, 3]]})
    assert get_flashed_messages(session) == ["fine"]
    assert get_flashed_messages(Session({"_flashes": "junk"})) == []
