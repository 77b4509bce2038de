"""Flask, written as its documentation teaches: render_template, session, one app.

Flask is a WSGI app; the harness speaks ASGI. ``asgi_over_wsgi`` calls the WSGI app
directly, on the event loop's thread, with no thread pool and no a2wsgi in between: the
figure is Flask's own cost plus the few dict operations of building ``environ``, the
most favourable way to run Flask in this harness. Only the web-app cases are written
here (templates and sessions), which is what the "web apps" issue compares.
"""

from __future__ import annotations

import io
import sys

from cases import FORTUNES_TEMPLATE, PAGE_ITEMS, PAGE_TEMPLATE, SESSION_DATA, sorted_fortunes
from flask import Flask, render_template, session
from jinja2 import DictLoader

from apps import EXTRA_ROUTES, with_cookie

SUPPORTED = {"template", "fortunes", "session", "session_read"}
PENDING: dict[str, str] = {}

flask_app = Flask(__name__)
flask_app.secret_key = "bench-secret-key"
flask_app.jinja_loader = DictLoader(  # type: ignore[assignment]
    {"page.html": PAGE_TEMPLATE, "fortunes.html": FORTUNES_TEMPLATE}
)


def _add_other_routes() -> None:
    for i in range(EXTRA_ROUTES):
        if i % 2:
            flask_app.add_url_rule(f"/r{i}/<int:id>", f"r{i}", lambda id: {})
        else:
            flask_app.add_url_rule(f"/r{i}", f"r{i}", lambda: {})


_add_other_routes()


@flask_app.get("/page")
def page() -> str:
    return render_template("page.html", name="World", items=PAGE_ITEMS)


@flask_app.get("/fortunes")
def fortunes() -> str:
    return render_template("fortunes.html", fortunes=sorted_fortunes())


@flask_app.get("/session")
def visit() -> dict:
    session["visits"] = session.get("visits", 0) + 1
    return {"visits": session["visits"]}


@flask_app.get("/session/read")
def read() -> dict:
    return {"user": session.get("user"), "visits": session.get("visits")}


@flask_app.get("/session/login")
def login() -> dict:
    session.update(SESSION_DATA)
    return {}


def asgi_over_wsgi(wsgi):
    """An ASGI callable that runs ``wsgi`` in place (HTTP only; no lifespan support)."""

    async def app(scope, receive, send):
        if scope["type"] != "http":
            raise RuntimeError("WSGI apps have no lifespan")
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        server = scope.get("server") or ("localhost", 80)
        environ = {
            "REQUEST_METHOD": scope["method"],
            "SCRIPT_NAME": scope.get("root_path", ""),
            "PATH_INFO": scope["path"],
            "QUERY_STRING": scope.get("query_string", b"").decode("latin-1"),
            "SERVER_NAME": server[0],
            "SERVER_PORT": str(server[1]),
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": scope.get("scheme", "http"),
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in scope["headers"]:
            name = key.decode("latin-1").upper().replace("-", "_")
            text = value.decode("latin-1")
            if name in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                environ[name] = text
            else:
                name = "HTTP_" + name
                environ[name] = f"{environ[name]}; {text}" if name in environ else text
        started = {}

        def start_response(status, headers, exc_info=None):
            started["status"] = int(status.split(" ", 1)[0])
            started["headers"] = [
                (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers
            ]

        chunks = wsgi(environ, start_response)
        try:
            content = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        await send(
            {
                "type": "http.response.start",
                "status": started["status"],
                "headers": started["headers"],
            }
        )
        await send({"type": "http.response.body", "body": content})

    return app


def _session_cookie() -> bytes:
    client = flask_app.test_client()
    client.get("/session/login")
    cookie = client.get_cookie("session")
    assert cookie is not None
    return f"session={cookie.value}".encode()


app = asgi_over_wsgi(flask_app)
CASE_APPS = {"session_read": with_cookie(app, _session_cookie())}
