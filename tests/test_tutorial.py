"""The tutorial's code (docs/tutorial/): each chapter's folder works as the page says.

The pages include their code from ``docs/examples/tutorial/<chapter>/`` (pymdownx.snippets),
so what a reader copies is what runs here. Each folder is copied to a temporary one, as a
reader's project would be, and its own tests run there with pytest; the commands the
chapters show (``carafe db ...``, ``carafe run --workers --env-file``, ``gunicorn.sh``)
run there too. Chapter 6's nginx site runs on a real nginx in front of the app, and its
Containerfile's command runs on the files it copies (no container engine here builds it).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port, need_binary, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "examples" / "tutorial"
CHAPTERS = sorted(path.name for path in TUTORIAL.iterdir() if path.is_dir())


def project(chapter: str, folder: Path) -> Path:
    """A copy of the chapter's folder, as the reader has it after the chapter."""
    target = folder / chapter
    shutil.copytree(TUTORIAL / chapter, target, ignore=shutil.ignore_patterns("__pycache__"))
    return target


def run(folder: Path, *command: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A command in the project's folder; ``carafe`` is this interpreter's."""
    if command[0] == "carafe":
        command = (sys.executable, "-m", "carafe", *command[1:])
    done = subprocess.run(
        command,
        cwd=folder,
        env={**os.environ, "CARAFE_APP": "app:app", **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def tables(database: Path) -> set[str]:
    with sqlite3.connect(database) as connection:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {name for (name,) in rows}


def test_the_chapters_are_there() -> None:
    assert CHAPTERS == ["1-json-api", "3-a-page", "4-database", "5-login", "6-deploy"]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_the_chapters_tests_pass(chapter: str, tmp_path: Path) -> None:
    """``pytest -q`` in the reader's folder, where the chapter says to run it."""
    folder = project(chapter, tmp_path)
    done = run(folder, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider")
    assert " passed" in done.stdout
    assert "failed" not in done.stdout and "error" not in done.stdout


def test_the_database_chapters_migrations(tmp_path: Path) -> None:
    """Chapter 4's ``carafe db init / revision --autogenerate / upgrade``, then chapter 5's
    second revision, which adds the users table to the same database."""
    folder = project("4-database", tmp_path)
    run(folder, "carafe", "db", "init")
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "todos")
    run(folder, "carafe", "db", "upgrade")
    assert tables(folder / "app.db") == {"alembic_version", "todos"}
    run(folder, "carafe", "db", "check")  # the models and the database agree

    # Chapter 5: the new app.py and templates over the same folder and database.
    for path in (TUTORIAL / "5-login").rglob("*"):
        if path.is_file() and "__pycache__" not in path.parts:
            target = folder / path.relative_to(TUTORIAL / "5-login")
            target.parent.mkdir(exist_ok=True)
            shutil.copy(path, target)
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "users")
    run(folder, "carafe", "db", "upgrade")
    assert tables(folder / "app.db") == {"alembic_version", "todos", "users"}
    history = run(folder, "carafe", "db", "history").stdout
    assert "todos" in history and "users" in history


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Chapter 6's folder with its migrations applied to the database its .env names."""
    tmp_path = tmp_path_factory.mktemp("deployed")
    folder = project("6-deploy", tmp_path)
    database = tmp_path / "todo.db"
    settings = {
        "CARAFE_SECRET_KEY": "a-long-random-string-for-this-test",
        "CARAFE_DATABASE_URL": f"sqlite:///{database}",
        "CARAFE_SECURE_COOKIES": "true",
    }
    (folder / ".env").write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
    run(folder, "carafe", "db", "init", **settings)
    run(folder, "carafe", "db", "revision", "--autogenerate", "-m", "first", **settings)
    run(folder, "carafe", "db", "upgrade", **settings)
    assert tables(database) == {"alembic_version", "todos", "users"}
    yield folder


@pytest.mark.slow
@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_the_deployed_app_serves_with_workers(deployed: Path, server: str) -> None:
    """``carafe run app:app --workers 2 --env-file .env``: the settings come from the file."""
    port = free_port()
    command = [sys.executable, "-m", "carafe", "run", "app:app", "--port", str(port)]
    command += ["--workers", "2", "--server", server, "--env-file", ".env"]
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CARAFE_")}
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=deployed, env=clean, stdout=log, stderr=log)
        try:
            wait_for_port(port, timeout=30, proc=proc)
            base = f"http://127.0.0.1:{port}"
            assert httpx.get(f"{base}/todos").json() == []
            login = httpx.get(f"{base}/login")
            assert login.status_code == 200
            assert "<h1>Log in</h1>" in login.text
            # CARAFE_SECURE_COOKIES=true from the file: the cookies go over HTTPS only.
            assert "; Secure" in login.headers["set-cookie"]
            redirect = httpx.get(f"{base}/")
            assert (redirect.status_code, redirect.headers["location"]) == (303, "/login?next=/")
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.seek(0)
            output = log.read().decode(errors="replace")
    assert f"({server}, 2 workers)" in output, output


def test_the_deployed_app_needs_its_secret_key(tmp_path: Path) -> None:
    """Chapter 6: without CARAFE_SECRET_KEY, ``carafe run`` stops with one line."""
    folder = project("6-deploy", tmp_path)
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CARAFE_")}
    done = subprocess.run(
        [sys.executable, "-m", "carafe", "run", "app:app", "--port", str(free_port())],
        cwd=folder,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert (
        "Error: importing 'app' failed: ConfigurationError: Cookie sessions need a secret key"
        in done.stderr + done.stdout
    )
    assert "Traceback" not in done.stderr


@contextlib.contextmanager
def serving(
    command: list[str], folder: Path, port: int, env: dict[str, str]
) -> Iterator[list[str]]:
    """``command`` running in ``folder`` until the block ends; then its output is the list's
    one item."""
    output: list[str] = []
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(command, cwd=folder, env=env, stdout=log, stderr=log)
        try:
            wait_for_port(port, timeout=30, proc=proc)
            yield output
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.seek(0)
            output.append(log.read().decode(errors="replace"))


def without_carafe_settings() -> dict[str, str]:
    """The environment, less any CARAFE_* variable: the settings must come from .env."""
    return {key: value for key, value in os.environ.items() if not key.startswith("CARAFE_")}


@pytest.mark.slow
def test_the_deployed_app_serves_under_gunicorn(deployed: Path) -> None:
    """The chapter's gunicorn.sh: uvicorn workers under gunicorn, settings from .env, and
    X-Forwarded-Proto believed from 127.0.0.1 (``--forwarded-allow-ips``)."""
    port = free_port()
    env = {**without_carafe_settings(), "PORT": str(port), "WORKERS": "2"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # the venv's gunicorn
    base = f"http://127.0.0.1:{port}"
    browser = {"Host": "todo.example.com", "Origin": "https://todo.example.com"}
    with serving(["sh", "gunicorn.sh"], deployed, port, env) as output:
        assert httpx.get(f"{base}/todos").json() == []
        page = httpx.get(f"{base}/signup", headers=browser)
        assert page.status_code == 200 and "; Secure" in page.headers["set-cookie"]
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        form = {"csrf_token": token.group(1), "email": "gun@example.com"}
        form["password"] = "correct horse"
        # The Secure cookie by hand: this client talks plain HTTP, as nginx would.
        sent = {**browser, "Cookie": page.headers["set-cookie"].split(";")[0]}
        refused = httpx.post(f"{base}/signup", data=form, headers=sent)
        assert refused.status_code == 403  # seen as http://: not the page's origin
        sent["X-Forwarded-Proto"] = "https"
        answer = httpx.post(f"{base}/signup", data=form, headers=sent)
        assert (answer.status_code, answer.headers["location"]) == (303, "/")
    assert output[0].count("Booting worker with pid") == 2, output[0]
    assert "Traceback" not in output[0]


# --- Behind nginx: the chapter's site file, on a real nginx --------------------------


def nginx_config(folder: Path, https: int, http: int, app: int) -> Path:
    """nginx.conf as the chapter has it, on loopback ports with a test certificate, inside
    a main configuration that keeps nginx's files in ``folder``."""
    cert, key = folder / "fullchain.pem", folder / "privkey.pem"
    request = ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]
    request += ["-nodes", "-days", "1", "-subj", "/CN=todo.example.com", "-keyout", str(key)]
    request += ["-out", str(cert), "-addext", "subjectAltName=DNS:todo.example.com"]
    made = subprocess.run(["openssl", *request], capture_output=True, check=False)
    assert made.returncode == 0, made.stderr
    site = (TUTORIAL / "6-deploy" / "nginx.conf").read_text(encoding="utf-8")
    for old, new in {
        "listen 443 ssl;": f"listen 127.0.0.1:{https} ssl;",
        "listen 80;": f"listen 127.0.0.1:{http};",
        "/etc/letsencrypt/live/todo.example.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/todo.example.com/privkey.pem": str(key),
        "http://127.0.0.1:8000": f"http://127.0.0.1:{app}",
    }.items():
        assert old in site, old  # the page's file still has the shape this test adapts
        site = site.replace(old, new)
    (folder / "site.conf").write_text(site, encoding="utf-8")
    temp = " ".join(
        f"{kind}_temp_path {folder / kind};" for kind in ("client_body", "proxy", "fastcgi")
    )
    main = (
        f"{'user root;' if os.geteuid() == 0 else ''} daemon off; worker_processes 1;"
        f" pid {folder / 'nginx.pid'}; error_log {folder / 'error.log'} warn;"
        f" events {{}} http {{ access_log off; {temp}"
        f" uwsgi_temp_path {folder / 'uwsgi'}; scgi_temp_path {folder / 'scgi'};"
        f" include {folder / 'site.conf'}; }}\n"
    )
    (folder / "nginx.conf").write_text(main, encoding="utf-8")
    return folder / "nginx.conf"


@pytest.mark.slow
@pytest.mark.parametrize("trusted", [True, False], ids=["trusted-proxy", "no-trusted-proxy"])
def test_the_app_behind_the_chapters_nginx(deployed: Path, tmp_path: Path, trusted: bool) -> None:
    """TLS in nginx, the app on loopback: with ``--trusted-proxy 127.0.0.1`` a visitor signs
    up over HTTPS; without it the app believes the request was plain HTTP and its CSRF
    check refuses the form, as the chapter says."""
    nginx = need_binary("nginx")
    https, http, app = free_port(), free_port(), free_port()
    config = nginx_config(tmp_path, https, http, app)
    checked = subprocess.run([nginx, "-t", "-c", str(config)], capture_output=True, check=False)
    assert checked.returncode == 0, checked.stderr
    command = [sys.executable, "-m", "carafe", "run", "app:app", "--port", str(app)]
    command += ["--env-file", ".env", *(["--trusted-proxy", "127.0.0.1"] if trusted else [])]
    tls = ssl.create_default_context(cafile=tmp_path / "fullchain.pem")
    tls.check_hostname = False  # the certificate names todo.example.com; we dial 127.0.0.1
    browser = {"Host": "todo.example.com"}
    env = without_carafe_settings()
    with (
        serving(command, deployed, app, env),
        serving([nginx, "-c", str(config)], tmp_path, https, env),
        httpx.Client(base_url=f"https://127.0.0.1:{https}", verify=tls, headers=browser) as web,
    ):
        plain = httpx.get(f"http://127.0.0.1:{http}/login?next=/", headers=browser)
        assert plain.status_code == 301
        assert plain.headers["location"] == "https://todo.example.com/login?next=/"
        page = web.get("/signup")
        assert page.status_code == 200 and "; Secure" in page.headers["set-cookie"]
        token = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert token is not None
        form = {"csrf_token": token.group(1), "email": f"{trusted}@example.com"}
        form["password"] = "correct horse"
        origin = {"Origin": "https://todo.example.com"}  # what the browser sends
        answer = web.post("/signup", data=form, headers=origin)
        if trusted:
            assert (answer.status_code, answer.headers["location"]) == (303, "/")
            home = web.get("/")
            assert home.status_code == 200 and '<p class="flash">Welcome!</p>' in home.text
        else:
            assert answer.status_code == 403
            assert "Welcome!" not in answer.text and "Traceback" not in answer.text


# --- The container file, without a container engine ----------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", path.read_text(encoding="utf-8"))
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


@pytest.mark.slow
def test_the_container_files_command_runs_on_what_it_copies(deployed: Path, tmp_path: Path) -> None:
    """No engine builds images here, so the Containerfile is run by hand: its extras exist,
    its COPY sources exist, and its CMD, in a folder holding only what it copies, with its
    ENV and the .env (``docker run --env-file .env``), migrates a new database and serves."""
    steps = instructions(TUTORIAL / "6-deploy" / "Containerfile")
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = {
        extra
        for keyword, rest in steps
        if keyword == "RUN"
        for group in re.findall(r"carafe\[([\w,-]+)\]", rest)
        for extra in group.split(",")
    }
    assert extras and extras <= set(declared["optional-dependencies"])
    image = tmp_path / "srv-todo"  # the image's WORKDIR
    image.mkdir()
    for keyword, rest in steps:
        if keyword == "COPY":
            source, target = rest.split()
            assert (deployed / source).exists(), source
            if (deployed / source).is_dir():
                shutil.copytree(deployed / source, image / target)
            else:
                shutil.copy(deployed / source, image / target)
    env = {**without_carafe_settings(), "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    env.update(rest.split("=", 1) for keyword, rest in steps if keyword == "ENV")
    env.update(
        line.split("=", 1)
        for line in (deployed / ".env").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )
    env["CARAFE_DATABASE_URL"] = f"sqlite:///{tmp_path / 'image.db'}"  # a new one
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")
    (command,) = [json.loads(rest) for keyword, rest in steps if keyword == "CMD"]
    port = free_port()
    assert "--host 0.0.0.0 --port 8000" in command[-1]
    command[-1] = command[-1].replace("--host 0.0.0.0 --port 8000", f"--port {port}")
    with serving(command, image, port, env) as output:
        assert httpx.get(f"http://127.0.0.1:{port}/todos").json() == []
        assert "<h1>Log in</h1>" in httpx.get(f"http://127.0.0.1:{port}/login").text
    assert tables(tmp_path / "image.db") == {"alembic_version", "todos", "users"}
    assert "(granian, 2 workers)" in output[0], output[0]
