"""What ``pip install carafe`` gives, and what each extra adds.

The core has Flask's batteries: templates, forms, signed sessions and the test client.
What needs an extra (``redis``, ``granian``, ``docs``, ``pydantic``) fails when the app is
set up, with the command to run in the message, never as a 500 on a request.

A missing package is simulated in a subprocess by a ``sitecustomize`` that puts ``None``
in ``sys.modules`` for it: ``import redis`` then raises ``ImportError`` and
``importlib.util.find_spec("redis")`` answers None, as without the package; the child
processes it starts inherit that through ``PYTHONPATH``. The slow test does it for real:
a fresh venv with nothing but ``pip install <this project>``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from carafe import Broker, ConfigurationError, RedisStore

ROOT = Path(__file__).resolve().parent.parent

# An app using every battery of the core: a template, a form (urlencoded and multipart),
# a signed-cookie session, and the TestClient that drives it.
SHOP = """\
from pathlib import Path
from typing import Annotated

import msgspec

from carafe import Carafe, Form, HTMLResponse, Request, Session, Templates

app = Carafe(title="Shop", secret_key="a key for this test only")
templates = Templates(Path(__file__).parent / "templates")


class Greeting(msgspec.Struct):
    name: str


@app.post("/hello")
async def hello(
    request: Request, greeting: Annotated[Greeting, Form()], session: Session
) -> HTMLResponse:
    session["visits"] = session.get("visits", 0) + 1
    return await templates.render(
        request, "hello.html", name=greeting.name, visits=session["visits"]
    )
"""

# Sections run as ``python check.py SECTION...``; each prints "ok SECTION".
CHECK = '''\
import importlib.util
import subprocess
import sys

from carafe import Broker, Carafe, ConfigurationError, DocsConfig, RedisStore
from carafe.testing import TestClient


def absent(name):
    """The package really cannot be had here (so no check passes by accident)."""
    assert importlib.util.find_spec(name) is None, f"{name} is installed"
    try:
        importlib.import_module(name)
    except ImportError:
        return
    raise AssertionError(f"{name} imported")


def startup_error(make):
    try:
        make()
    except ConfigurationError as exc:
        return str(exc)
    raise AssertionError("no ConfigurationError")


def batteries():
    import shop

    with TestClient(shop.app) as client:
        first = client.post("/hello", data={"name": "<Ann>"})
        assert first.status_code == 200, first.text
        assert first.text == "<p>Hello &lt;Ann&gt;, visit 1</p>", first.text
        assert first.headers["set-cookie"].startswith("session="), first.headers
        second = client.post("/hello", files={"name": (None, "Bob")})  # multipart
        assert second.text == "<p>Hello Bob, visit 2</p>", second.text
        client.cookies.clear()
        client.cookies.set("session", "forged")
        assert "visit 1" in client.post("/hello", data={"name": "Eve"}).text


def pydantic():
    absent("pydantic")
    import shop

    with TestClient(shop.app) as client:
        document = client.get("/openapi.json").json()
        assert "/hello" in document["paths"], document
        assert client.post("/hello", data={}).status_code == 422
    assert sys.modules.get("pydantic") is None and "carafe._pydantic" not in sys.modules


def redis():
    absent("redis")
    hint = "pip install 'carafe[redis]'"
    assert hint in startup_error(lambda: RedisStore("redis://localhost/0"))
    assert hint in startup_error(lambda: Broker("redis://localhost/0"))


def granian():
    absent("granian")
    run = subprocess.run(
        [sys.executable, "-m", "carafe", "run", "shop:app", "--server", "granian"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, (run.returncode, run.stderr)
    assert "granian is not installed: pip install 'carafe[granian]'" in run.stderr, run.stderr


def docs():
    absent("openapi_ui_bundles")
    import shop

    with TestClient(shop.app) as client:
        page = client.get("/docs").text
        assert "https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui-bundle.js" in page
        assert client.get("/docs-assets/swagger-ui.css").status_code == 404
    offline = Carafe(docs=DocsConfig(assets="local"))
    assert "pip install 'carafe[docs]'" in startup_error(offline.compile)


for section in sys.argv[1:]:
    globals()[section]()
    print("ok", section)
'''

SECTIONS = ["batteries", "pydantic", "redis", "granian", "docs"]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A folder with the app, its template and the checks; nothing of Carafe's tree."""
    folder = tmp_path / "project"
    (folder / "templates").mkdir(parents=True)
    (folder / "templates" / "hello.html").write_text("<p>Hello {{ name }}, visit {{ visits }}</p>")
    (folder / "shop.py").write_text(SHOP)
    (folder / "check.py").write_text(CHECK)
    return folder


def run_checks(
    python: str, project: Path, sections: list[str], without: tuple[str, ...] = ()
) -> None:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    if without:
        blocker = project.parent / "blocker"
        blocker.mkdir(exist_ok=True)
        lines = [f"sys.modules[{name!r}] = None\n" for name in without]
        (blocker / "sitecustomize.py").write_text("import sys\n" + "".join(lines))
        env["PYTHONPATH"] = str(blocker)
    run = subprocess.run(
        [python, "check.py", *sections],
        check=False,
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.split("\n") == [f"ok {section}" for section in sections] + [""]


# --- Each missing package, simulated --------------------------------------------------


def test_templates_forms_sessions_and_the_client_need_no_extra(project: Path) -> None:
    every_extra = ("pydantic", "pydantic_core", "redis", "granian", "openapi_ui_bundles")
    run_checks(sys.executable, project, ["batteries"], without=every_extra)


def test_without_pydantic_nothing_asks_for_it(project: Path) -> None:
    run_checks(sys.executable, project, ["pydantic"], without=("pydantic", "pydantic_core"))


def test_without_redis_a_redis_store_or_broker_fails_at_startup(project: Path) -> None:
    run_checks(sys.executable, project, ["redis"], without=("redis",))


def test_the_redis_checks_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    # The same as above where coverage sees it; a client given means redis is there.
    monkeypatch.setitem(sys.modules, "redis", None)
    for make in (lambda: RedisStore("redis://localhost/0"), lambda: Broker("redis://localhost")):
        with pytest.raises(ConfigurationError, match=r"needs redis: pip install 'carafe\[redis\]'"):
            make()


def test_without_granian_carafe_run_says_what_to_install(project: Path) -> None:
    run_checks(sys.executable, project, ["granian"], without=("granian",))


def test_without_the_docs_extra_the_pages_use_a_cdn(project: Path) -> None:
    run_checks(sys.executable, project, ["docs"], without=("openapi_ui_bundles",))


# --- A real install -------------------------------------------------------------------


@pytest.mark.slow
def test_a_plain_pip_install_has_the_batteries(tmp_path: Path, project: Path) -> None:
    """``pip install <this project>`` into a fresh venv, no extras, then every check."""
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    # NOTE: the registry as configured for pip; its cache keeps this to seconds once the
    # dev setup has fetched the same wheels.
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(ROOT)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    where = subprocess.run(
        [
            python,
            "-c",
            "import carafe, importlib.metadata as m; print(carafe.__file__); "
            "print(*sorted(m.metadata('carafe').get_all('Provides-Extra')))",
        ],
        cwd=project,
        capture_output=True,
        text=True,
        check=True,
    )
    location, extras = where.stdout.splitlines()
    assert location.startswith(str(env_dir)), location  # the installed copy, not ROOT
    # The extras that moved into the core still exist, so 'carafe[templates]' installs.
    assert {"forms", "templates", "sessions", "testing", "docs", "all"} <= set(extras.split())
    run_checks(python, project, SECTIONS)
