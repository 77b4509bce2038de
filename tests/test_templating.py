"""Templates: autoescaping, url_for and static URLs, globals and filters, debug reload."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from pathlib import Path
from typing import Any

import anyio
import pytest
from jinja2 import DictLoader

from carafe import Carafe, Request
from carafe.exceptions import ConfigurationError
from carafe.responses import HTMLResponse, PlainTextResponse, RedirectResponse
from carafe.testing import TestClient
from carafe.web.flash import flash
from carafe.web.sessions import Session
from carafe.web.templating import Templates


async def static_files(scope: Any, receive: Any, send: Any) -> None:
    await PlainTextResponse(scope["path"])(scope, receive, send)


def make_app(templates: Templates, debug: bool = False) -> Carafe:
    app = Carafe(debug=debug)
    app.mount("/static", static_files, name="static")

    @app.get("/page/{name}")
    async def page(request: Request, name: str, value: str = "") -> Any:
        return await templates.render(request, name, value=value)

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"item_id": item_id}

    return app


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_html_is_escaped_and_other_files_are_not(tmp_path: Path) -> None:
    write(tmp_path, "show.html", "<p>{{ value }}</p>")
    write(tmp_path, "show.txt", "{{ value }}")
    with TestClient(make_app(Templates(tmp_path))) as client:
        hostile = "<script>alert(1)</script>{{7*7}}"
        page = client.get("/page/show.html", params={"value": hostile})
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        assert page.text == "<p>&lt;script&gt;alert(1)&lt;/script&gt;{{7*7}}</p>"
        assert client.get("/page/show.txt", params={"value": "<b>"}).text == "<b>"


def test_data_in_a_script_needs_tojson() -> None:
    loader = DictLoader(
        {
            "json.html": "<script>const v = {{ value | tojson }};</script>",
            "bare.html": "<script>const v = {{ value }};</script>",
        }
    )
    with TestClient(make_app(Templates(loader=loader))) as client:
        hostile = "</script><script>alert('&')</script>"
        page = client.get("/page/json.html", params={"value": hostile}).text
        assert page == (
            '<script>const v = "\\u003c/script\\u003e\\u003cscript\\u003e'
            'alert(\\u0027\\u0026\\u0027)\\u003c/script\\u003e";</script>'
        )
        # Autoescaping is for HTML, not JavaScript: a bare value runs as code.
        bare = client.get("/page/bare.html", params={"value": "1; alert(1)"}).text
        assert bare == "<script>const v = 1; alert(1);</script>"


def test_url_for_and_static_urls(tmp_path: Path) -> None:
    write(
        tmp_path,
        "links.html",
        "{{ url_for('item', item_id=3) }} {{ url_for('static', path='css/site.css') }} "
        "{{ url_for('static', filename='app.js') }} {{ static_url('logo.png') }} "
        "{{ request.method }}",
    )
    with TestClient(make_app(Templates(tmp_path)), root_path="/shop") as client:
        assert client.get("/page/links.html").text == (
            "/shop/items/3 /shop/static/css/site.css /shop/static/app.js /shop/static/logo.png GET"
        )


def test_globals_and_filters_registered_before_and_after_first_use() -> None:
    templates = Templates(
        loader=DictLoader({"t.html": "{{ site() }} {{ 'abc' | shout }} {{ later }} {{ twice(2) }}"})
    )

    @templates.template_global()
    def site() -> str:
        return "Carafe"

    @templates.template_filter("shout")
    def loud(text: str) -> str:
        return text.upper() + "!"

    templates.globals["later"] = "early"
    assert templates.env.globals["later"] == "early"
    templates.globals["later"] = "later"

    @templates.template_global()
    async def twice(n: int) -> int:  # async globals are awaited by async rendering
        return 2 * n

    with TestClient(make_app(templates)) as client:
        assert client.get("/page/t.html").text == "Carafe ABC! later 4"


def test_async_helpers_work_through_extends_includes_and_context() -> None:
    loader = DictLoader(
        {
            "base.html": "[{{ csrf_token() | length > 40 }}]{% block body %}{% endblock %}",
            "child.html": "{% extends 'base.html' %}{% block body %}child{% endblock %}",
            "loop_a.html": "a{% if deep %}{% include 'loop_b.html' %}{% endif %}",
            "loop_b.html": "b{% include 'loop_a.html' %}",
            "dynamic.html": "{% include part %}",
            "part.html": "{{ csrf_token() | length > 40 }}",
            "plain.html": "{% for x in items %}{{ x }}{% endfor %}",
        }
    )
    templates = Templates(loader=loader)
    app = Carafe(secret_key="k")

    async def numbers() -> Any:
        for n in (1, 2):
            yield n

    @app.get("/{name}")
    async def page(request: Request, name: str) -> Any:
        return await templates.render(
            request, f"{name}.html", deep=False, part="part.html", items=[1, 2]
        )

    @app.get("/stream/plain")
    async def streamed(request: Request) -> Any:
        return await templates.render(request, "plain.html", items=numbers())

    with TestClient(app) as client:
        assert client.get("/child").text == "[True]child"
        assert client.get("/loop_a").text == "a"
        assert client.get("/dynamic").text == "True"
        assert client.get("/plain").text == "12"
        assert client.get("/stream/plain").text == "12"  # an async iterable in the context


def test_render_options_and_render_string(tmp_path: Path) -> None:
    write(tmp_path, "mail.txt", "Hello {{ name }}")
    write(tmp_path, "form.html", "bad")
    templates = Templates([tmp_path / "missing", tmp_path])
    app = Carafe()

    @app.get("/form")
    async def form(request: Request) -> Any:
        return await templates.render(
            request, "form.html", status_code=422, headers={"x-form": "profile"}
        )

    @app.get("/mail")
    async def mail(request: Request) -> str:
        return await templates.render_string(request, "mail.txt", name="<Ann>")

    with TestClient(app) as client:
        response = client.get("/form")
        assert (response.status_code, response.headers["x-form"], response.text) == (
            422,
            "profile",
            "bad",
        )
        assert client.get("/mail").text == "Hello <Ann>"
    assert "Templates(" in repr(templates)


def test_debug_mode_reloads_changed_templates(tmp_path: Path) -> None:
    path = write(tmp_path, "live.html", "one")
    debug_client = TestClient(make_app(Templates(tmp_path), debug=True))
    still_client = TestClient(make_app(Templates(tmp_path)))
    assert debug_client.get("/page/live.html").text == "one"
    assert still_client.get("/page/live.html").text == "one"
    path.write_text("two", encoding="utf-8")
    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert debug_client.get("/page/live.html").text == "two"
    assert still_client.get("/page/live.html").text == "one"


def test_templates_need_a_directory_or_a_loader(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="directory or a loader"):
        Templates()
    with pytest.raises(ConfigurationError, match="directory or a loader"):
        Templates(tmp_path, loader=DictLoader({}))


def test_importing_carafe_imports_no_optional_library() -> None:
    code = (
        "import sys, carafe, carafe.web.sessions, carafe.web.templating\n"
        "import carafe.web.csrf, carafe.web.flash\n"
        "heavy = [m for m in ('jinja2', 'itsdangerous', 'redis') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_globals_and_filters_registered_on_the_app() -> None:
    app = Carafe()

    @app.template_global()
    def site_name() -> str:
        return "Carafe shop"

    @app.template_filter("money")
    def money(value: float) -> str:
        return f"€{value:.2f}"

    @app.template_global("greeting")
    async def hello(name: str) -> str:
        return f"hello {name}"

    templates = Templates(
        loader=DictLoader({"p.html": "{{ site_name() }}: {{ 3.5 | money }}, {{ greeting('<b>') }}"})
    )

    @app.get("/")
    async def page(request: Request) -> Any:
        return await templates.render(request, "p.html")

    response = TestClient(app).get("/")
    assert response.text == "Carafe shop: €3.50, hello &lt;b&gt;"


def test_context_macros_own_globals_and_errors_render_as_jinja_would() -> None:
    loader = DictLoader(
        {
            "macros.html": "{% macro tag(x) %}<b>{{ x }}</b>@{{ site }}{% endmacro %}",
            "page.html": (
                "{% import 'macros.html' as m with context %}{{ m.tag(name) }} {{ range(2)|list }}"
            ),
            "shadow.html": "{{ site }}",
            "own.html": "{{ who }}/{{ site }}/{{ csrf_token() | length > 40 }}",
            "broken.html": "line one\n{{ 1 // zero }}",
            "broken_async.html": "{{ pause() }}\n{{ 1 // zero }}",
        }
    )
    templates = Templates(loader=loader)
    templates.globals["site"] = "global"

    @templates.template_global()
    async def pause() -> str:  # makes broken_async.html render in async mode
        return ""

    # A template loaded with globals of its own keeps them.
    templates.env.get_template("own.html", globals={"who": "mine"})
    app = Carafe(secret_key="k")

    @app.get("/{name}")
    async def page(request: Request, name: str) -> Any:
        context: dict[str, Any] = {"name": "<i>"} if name == "page" else {}
        if name == "shadow":
            context["site"] = "context"  # a context variable hides the global
        return await templates.render(request, f"{name}.html", zero=0, **context)

    with TestClient(app) as client:
        assert client.get("/page").text == "<b>&lt;i&gt;</b>@global [0, 1]"
        assert client.get("/shadow").text == "context"
        assert client.get("/own").text == "mine/global/True"
        templates.globals["site"] = "changed"  # seen by the next render
        assert client.get("/shadow").text == "context"
        assert client.get("/own").text == "mine/changed/True"

    async def render(name: str) -> str:
        return await templates.render_string(None, name, zero=0)

    for name in ("broken.html", "broken_async.html"):
        with pytest.raises(ZeroDivisionError) as info:
            anyio.run(render, name)
        # Jinja's traceback rewriting still points at the template's line.
        frames = [(f.filename, f.lineno) for f in traceback.extract_tb(info.tb)]
        assert frames[-1] == ("<template>", 2)


def test_sync_handlers_render_with_the_async_helpers() -> None:
    loader = DictLoader(
        {
            "form.html": (
                "{% for m in get_flashed_messages() %}<p>{{ m }}</p>{% endfor %}"
                "<input name=csrf_token value='{{ csrf_token() }}'>{{ who }}"
            ),
            "broken.html": "{{ 1 // 0 }}",
        }
    )
    templates = Templates(loader=loader)
    app = Carafe(secret_key="sync-secret", csrf=True)

    @app.post("/save")
    def save(session: Session) -> RedirectResponse:
        flash(session, "Saved.")
        return RedirectResponse("/form", 303)

    @app.get("/form")
    def form(request: Request) -> HTMLResponse:  # a Flask-style sync handler
        return templates.render_sync(request, "form.html", status_code=201, who="<ann>")

    @app.get("/broken")
    def broken(request: Request) -> HTMLResponse:
        return templates.render_sync(request, "broken.html")

    @app.get("/from-async")
    async def from_async(request: Request) -> HTMLResponse:
        return templates.render_sync(request, "form.html")

    with TestClient(app, raise_server_exceptions=False) as client:
        first = client.get("/form")
        assert (first.status_code, first.text.startswith("<input")) == (201, True)
        token = first.text.split("value='")[1].split("'")[0]
        assert client.post("/save", data={}).status_code == 403
        # The token the sync-rendered page carries passes the CSRF check...
        page = client.post("/save", data={"csrf_token": token}, follow_redirects=True)
        assert page.text.startswith("<p>Saved.</p><input name=csrf_token value='")
        assert page.text.endswith("'>&lt;ann&gt;")
        # ...and the flash was consumed and the session saved: it shows once.
        assert client.get("/form").text.startswith("<input")
        assert client.get("/broken").status_code == 500
        assert client.get("/from-async").status_code == 500

    with pytest.raises(RuntimeError, match="called from async code"):
        anyio.run(lambda: _call_sync_render(templates))
    with pytest.raises(RuntimeError, match="sync handlers and dependencies"):
        templates.render_sync(Request({"type": "http"}), "form.html")


async def _call_sync_render(templates: Templates) -> None:
    templates.render_sync(Request({"type": "http"}), "form.html")
