"""Configuration: app.config's loaders, .env files, typed settings, carafe run --env-file."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Annotated, Any

import httpx
import msgspec
import pytest
from click.testing import CliRunner

from carafe import Carafe, ConfigurationError, Depends
from carafe.cli import main as cli
from carafe.config import Config, TypedSettings, load_env_file, read_env_file
from carafe.testing import TestClient
from carafe.web.sessions import Session
from tests.conftest import ROOT, free_port


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --- app.config loaders ----------------------------------------------------------------


def test_a_new_app_has_debug_and_secret_key_in_its_config() -> None:
    app = Carafe(debug=True, secret_key="s3cret")
    assert app.config == {"DEBUG": True, "SECRET_KEY": "s3cret"}
    assert isinstance(app.config, Config)
    assert repr(app.config) == "<Config {'DEBUG': True, 'SECRET_KEY': 's3cret'}>"


def test_from_mapping_takes_upper_case_keys_only() -> None:
    config = Config()
    assert config.from_mapping({"PAGE_SIZE": 20, "helper": 1}, TITLE="Shop", lower=2) is True
    assert config == {"PAGE_SIZE": 20, "TITLE": "Shop"}
    config.from_mapping()
    assert config == {"PAGE_SIZE": 20, "TITLE": "Shop"}


class Defaults:
    PAGE_SIZE = 20
    MAIL_HOST = "smtp.local"
    not_a_setting = "ignored"


def test_from_object_takes_upper_case_attributes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = Config()
    config.from_object(Defaults)
    assert config == {"PAGE_SIZE": 20, "MAIL_HOST": "smtp.local"}
    write(tmp_path / "shop_settings.py", "TIMEOUT = 5\nclass Production:\n    TIMEOUT = 30\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    config.from_object("shop_settings")
    assert config["TIMEOUT"] == 5
    config.from_object("shop_settings:Production")
    assert config["TIMEOUT"] == 30
    with pytest.raises(ConfigurationError, match="'shop_settings:Staging'"):
        config.from_object("shop_settings:Staging")
    with pytest.raises(ConfigurationError, match="'no_such_settings_module'"):
        config.from_object("no_such_settings_module")


def test_from_toml_reads_the_top_level_or_a_table(tmp_path: Path) -> None:
    path = write(
        tmp_path / "settings.toml",
        """
        TITLE = "Shop"
        lower = "ignored"
        [tool.shop]
        PAGE_SIZE = 50
        DATABASE = { URL = "sqlite://" }
        """,
    )
    config = Config()
    assert config.from_toml(path) is True
    assert config == {"TITLE": "Shop"}
    config.from_toml(path, table="tool.shop")
    assert config == {"TITLE": "Shop", "PAGE_SIZE": 50, "DATABASE": {"URL": "sqlite://"}}


def test_from_toml_mistakes_name_the_file(tmp_path: Path) -> None:
    config = Config()
    path = write(tmp_path / "settings.toml", 'TITLE = "Shop"\n')
    with pytest.raises(ConfigurationError, match=r"settings.toml: no table \[tool.shop\]"):
        config.from_toml(path, table="tool.shop")
    with pytest.raises(ConfigurationError, match=r"settings.toml: no table \[TITLE\]"):
        config.from_toml(path, table="TITLE")
    with pytest.raises(ConfigurationError, match=r"missing\.toml: cannot read the config file"):
        config.from_toml(tmp_path / "missing.toml")
    broken = write(tmp_path / "broken.toml", "TITLE = \n")
    with pytest.raises(ConfigurationError, match=r"broken.toml: not valid TOML: .*line 1"):
        config.from_toml(broken)
    assert config == {}


def test_from_prefixed_env_parses_json_and_nests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPCFG_PAGE_SIZE", "50")
    monkeypatch.setenv("SHOPCFG_ENABLED", "true")
    monkeypatch.setenv("SHOPCFG_TITLE", "The shop")  # not JSON: kept as the string
    monkeypatch.setenv("SHOPCFG_TAGS", '["a", "b"]')
    monkeypatch.setenv("SHOPCFG_DATABASE__URL", "postgres://db")
    monkeypatch.setenv("SHOPCFG_DATABASE__POOL__SIZE", "4")
    monkeypatch.setenv("SHOPCFG_MAIL__HOST", "smtp")
    monkeypatch.setenv("OTHER_PAGE_SIZE", "1")
    config = Config(MAIL="replaced: not a table")
    assert config.from_prefixed_env("SHOPCFG") is True
    assert config == {
        "PAGE_SIZE": 50,
        "ENABLED": True,
        "TITLE": "The shop",
        "TAGS": ["a", "b"],
        "DATABASE": {"URL": "postgres://db", "POOL": {"SIZE": 4}},
        "MAIL": {"HOST": "smtp"},
    }
    raw = Config()
    raw.from_prefixed_env("SHOPCFG", loads=str)  # strings, whatever they look like
    assert raw["PAGE_SIZE"] == "50" and raw["DATABASE"]["POOL"] == {"SIZE": "4"}


def test_from_prefixed_env_defaults_to_carafe_and_drives_the_app(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in [n for n in os.environ if n.startswith("CARAFE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CARAFE_SECRET_KEY", "from-env")
    app = Carafe()
    app.config.from_prefixed_env()
    assert app.secret_key == "from-env"
    assert app.config == {"DEBUG": False, "SECRET_KEY": "from-env"}


def test_get_namespace() -> None:
    config = Config(MAIL_HOST="smtp", MAIL_PORT=25, PAGE_SIZE=20)
    assert config.get_namespace("MAIL_") == {"host": "smtp", "port": 25}
    assert config.get_namespace("MAIL_", lowercase=False) == {"HOST": "smtp", "PORT": 25}
    assert config.get_namespace("MAIL_", trim_namespace=False) == {
        "mail_host": "smtp",
        "mail_port": 25,
    }


# --- SECRET_KEY and DEBUG drive the app ------------------------------------------------


def session_app(**options: Any) -> Carafe:
    app = Carafe(docs=None, **options)

    @app.get("/count")
    async def count(session: Session) -> int:
        session["n"] = session.get("n", 0) + 1
        return int(session["n"])

    return app


def test_secret_key_in_config_signs_sessions() -> None:
    app = session_app()
    app.config.from_mapping(SECRET_KEY="from-config")
    assert app.secret_key == "from-config"
    with TestClient(app) as client:
        assert [client.get("/count").json() for _ in range(2)] == [1, 2]
        cookie = client.cookies["session"]
    other = session_app()
    other.secret_key = "another key"  # the attribute is the config key
    assert other.config["SECRET_KEY"] == "another key"
    with TestClient(other) as client:
        client.cookies.set("session", cookie, domain="testserver.local")
        assert client.get("/count").json() == 1  # signed with another key: a new session


def crash_app() -> Carafe:
    app = Carafe(docs=None)

    @app.get("/boom")
    async def boom() -> None:
        raise ValueError("broken on purpose")

    return app


def test_debug_in_config_is_read_at_startup() -> None:
    app = crash_app()
    app.config["DEBUG"] = True
    assert app.debug is True
    with TestClient(app, raise_server_exceptions=False, base_url="http://localhost") as client:
        body = client.get("/boom").json()
        assert any("broken on purpose" in line for line in body["traceback"])
        app.debug = False  # the attribute takes effect at once
        assert app.config["DEBUG"] is False
        assert "traceback" not in client.get("/boom").json()


def test_debug_set_in_config_after_compiling_is_read_at_startup() -> None:
    app = crash_app()
    app.compile()
    app.config.from_mapping(DEBUG=True)
    with TestClient(app, raise_server_exceptions=False, base_url="http://localhost") as client:
        assert "traceback" in client.get("/boom").json()


def test_without_debug_no_traceback_leaks() -> None:
    app = crash_app()
    with TestClient(app, raise_server_exceptions=False, base_url="http://localhost") as client:
        response = client.get("/boom")
    assert response.status_code == 500
    assert "broken on purpose" not in response.text


# --- .env files ------------------------------------------------------------------------


def test_env_file_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / ".env",
        r"""
        # a comment line
        PLAIN=value
        export EXPORTED=yes
        EMPTY=
        EMPTY_QUOTED=""
        SINGLE='literal \n # not a comment'
        DOUBLE="line\nnext \"quoted\" \\ \q"
        TRAILING="kept"   # a comment after the quote
        INLINE=bare # a comment
        HASH=no#comment
        ONLY_COMMENT= # nothing but a comment
        QUOTED_SPACED =  'x'
        EQUALS=a=b=c
        URL=postgres://user:pw@db:5432/shop?ssl=true

        """,
    )
    with path.open("a", encoding="utf-8") as file:
        file.write("SPACED = spaced value \t \n")  # blanks around the value are dropped
    assert read_env_file(path) == {
        "PLAIN": "value",
        "SPACED": "spaced value",
        "EXPORTED": "yes",
        "EMPTY": "",
        "EMPTY_QUOTED": "",
        "SINGLE": r"literal \n # not a comment",
        "DOUBLE": 'line\nnext "quoted" \\ \\q',
        "TRAILING": "kept",
        "INLINE": "bare",
        "HASH": "no#comment",
        "ONLY_COMMENT": "",
        "QUOTED_SPACED": "x",
        "EQUALS": "a=b=c",
        "URL": "postgres://user:pw@db:5432/shop?ssl=true",
    }


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("JUST_A_NAME", "expected KEY=VALUE"),
        ("1BAD=x", "expected KEY=VALUE"),
        ("BAD KEY=x", "expected KEY=VALUE"),
        ('OPEN="never closed', 'no closing " quote'),
        ("OPEN='never closed", "no closing ' quote"),
        ('AFTER="x" y', "unexpected text after the closing quote: 'y'"),
    ],
)
def test_a_malformed_line_names_the_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "app.env", f"# settings\nGOOD=1\n{line}\n")
    with pytest.raises(ConfigurationError) as caught:
        read_env_file(path)
    assert str(caught.value) == f"{path}, line 3: {problem}"


def test_an_unreadable_env_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"missing.env: cannot read the env file"):
        read_env_file(tmp_path / "missing.env")


def test_load_env_file_keeps_set_variables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / ".env", "CFGTEST_SET=from-file\nCFGTEST_NEW=new\n")
    monkeypatch.setenv("CFGTEST_SET", "from-env")
    monkeypatch.delenv("CFGTEST_NEW", raising=False)
    assert load_env_file(path) == {"CFGTEST_SET": "from-file", "CFGTEST_NEW": "new"}
    assert os.environ["CFGTEST_SET"] == "from-env"
    assert os.environ["CFGTEST_NEW"] == "new"
    load_env_file(path, override=True)
    assert os.environ["CFGTEST_SET"] == "from-file"
    monkeypatch.delenv("CFGTEST_NEW")


# --- Typed settings --------------------------------------------------------------------


class Shop(msgspec.Struct):
    port: int
    name: str = "shop"
    debug: bool = False
    tags: list[str] = []


def port_label(settings: Shop) -> str:
    return f"{settings.name}:{settings.port}"


def shop_app(settings: TypedSettings[Shop]) -> Carafe:
    app = Carafe(docs=None, extensions=[settings])

    @app.get("/settings")
    def show(settings: Shop, label: Annotated[str, Depends(port_label)]) -> dict[str, Any]:
        return {
            "port": settings.port,
            "debug": settings.debug,
            "tags": settings.tags,
            "label": label,
            "id": id(settings),
        }

    return app


@pytest.fixture
def shop_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("SHOP_PORT", "SHOP_NAME", "SHOP_DEBUG", "SHOP_TAGS"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_are_read_from_the_environment_and_injected(shop_env: pytest.MonkeyPatch) -> None:
    shop_env.setenv("SHOP_PORT", "8000")
    shop_env.setenv("SHOP_DEBUG", "true")
    shop_env.setenv("SHOP_TAGS", '["tea", "pots"]')
    settings = TypedSettings(Shop, prefix="SHOP_")
    with TestClient(shop_app(settings)) as client:
        first = client.get("/settings").json()
        shop_env.setenv("SHOP_PORT", "9000")  # read once: a later change is not seen
        second = client.get("/settings").json()
    assert first == second
    assert first["port"] == 8000 and first["debug"] is True and first["tags"] == ["tea", "pots"]
    assert first["label"] == "shop:8000"  # dependencies get them too
    assert first["id"] == id(settings.value)  # the same object every request


def test_settings_come_from_an_env_file_and_the_environment_wins(
    tmp_path: Path, shop_env: pytest.MonkeyPatch
) -> None:
    env_file = write(tmp_path / ".env", "SHOP_PORT=8000\nSHOP_NAME='file shop'\n")
    shop_env.setenv("SHOP_NAME", "env shop")
    app = shop_app(TypedSettings(Shop, prefix="SHOP_", env_file=env_file))
    with TestClient(app) as client:
        assert client.get("/settings").json()["label"] == "env shop:8000"
    assert "SHOP_PORT" not in os.environ  # the file fed the settings, not the environment


def test_a_missing_variable_fails_when_the_app_is_built(shop_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigurationError) as caught:
        shop_app(TypedSettings(Shop, prefix="SHOP_"))
    assert str(caught.value) == (
        "Shop cannot be read from the environment: SHOP_PORT: not set (Shop.port is required)"
    )


def test_ill_typed_variables_fail_naming_each(shop_env: pytest.MonkeyPatch) -> None:
    shop_env.setenv("SHOP_PORT", "eighty")
    shop_env.setenv("SHOP_TAGS", "[1, 2]")
    app = Carafe(docs=None)
    with pytest.raises(ConfigurationError) as caught:
        app.extend(TypedSettings(Shop, prefix="SHOP_"))
    assert str(caught.value) == (
        "Shop cannot be read from the environment: SHOP_PORT: Expected `int`, got `str`; "
        "SHOP_TAGS: Expected `str`, got `int` - at `$[0]`"
    )


class Window(msgspec.Struct):
    opens: int
    closes: int

    def __post_init__(self) -> None:
        if self.closes <= self.opens:
            raise ValueError("closes must be after opens")


def test_a_struct_check_fails_at_startup_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIN_OPENS", "9")
    monkeypatch.setenv("WIN_CLOSES", "8")
    with pytest.raises(ConfigurationError, match="Window: closes must be after opens"):
        Carafe(extensions=[TypedSettings(Window, prefix="WIN_")])


def test_env_file_must_exist_unless_optional(tmp_path: Path, shop_env: pytest.MonkeyPatch) -> None:
    shop_env.setenv("SHOP_PORT", "1")
    with pytest.raises(ConfigurationError, match=r"missing\.env: cannot read the env file"):
        assert TypedSettings(Shop, prefix="SHOP_", env_file=tmp_path / "missing.env").value
    optional = TypedSettings(
        Shop, prefix="SHOP_", env_file=tmp_path / "x.env", env_file_required=False
    )
    assert optional.value == Shop(port=1)


def test_only_a_struct_class_is_taken() -> None:
    with pytest.raises(TypeError, match=r"takes a msgspec\.Struct or BaseSettings class"):
        TypedSettings(dict)  # type: ignore[type-var]


def test_two_apps_do_not_share_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EAST_PORT", "1")
    monkeypatch.setenv("WEST_PORT", "2")
    east = shop_app(TypedSettings(Shop, prefix="EAST_"))
    west = shop_app(TypedSettings(Shop, prefix="WEST_"))
    with TestClient(east) as a, TestClient(west) as b:
        assert a.get("/settings").json()["port"] == 1
        assert b.get("/settings").json()["port"] == 2


def test_settings_are_not_a_request_body_in_openapi(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_PORT", "1")
    app = Carafe(extensions=[TypedSettings(Shop, prefix="SHOP_")])

    @app.get("/port")
    def port(settings: Shop) -> int:
        return settings.port

    with TestClient(app) as client:
        operation = client.get("/openapi.json").json()["paths"]["/port"]["get"]
        assert "requestBody" not in operation and "parameters" not in operation
        assert client.get("/port").json() == 1


# --- pydantic-settings classes --------------------------------------------------------

HAS_PYDANTIC_SETTINGS = importlib.util.find_spec("pydantic_settings") is not None
# The dev extra installs it: under CI a missing one fails rather than skips.
needs_pydantic_settings = pytest.mark.skipif(
    not HAS_PYDANTIC_SETTINGS and os.environ.get("CI") != "true",
    reason="pydantic-settings is not installed (pip install -e '.[dev]')",
)

if HAS_PYDANTIC_SETTINGS:
    from pydantic_settings import BaseSettings, SettingsConfigDict

    class MailSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="MAILSET_")
        host: str
        port: int = 25


@pytest.fixture
def mail_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith(("MAILSET_", "OUTBOX_"))]:
        monkeypatch.delenv(name)
    return monkeypatch


@needs_pydantic_settings
def test_a_base_settings_class_is_read_and_injected(
    tmp_path: Path, mail_env: pytest.MonkeyPatch
) -> None:
    env_file = write(tmp_path / ".env", "OUTBOX_PORT=587\n")
    mail_env.setenv("OUTBOX_HOST", "smtp.local")
    app = Carafe(extensions=[TypedSettings(MailSettings, prefix="OUTBOX_", env_file=env_file)])

    @app.get("/mail")
    def mail(settings: MailSettings) -> dict[str, Any]:
        return {"host": settings.host, "port": settings.port}

    with TestClient(app) as client:
        assert client.get("/mail").json() == {"host": "smtp.local", "port": 587}
        operation = client.get("/openapi.json").json()["paths"]["/mail"]["get"]
        assert "requestBody" not in operation


@needs_pydantic_settings
def test_base_settings_mistakes_fail_at_startup_naming_the_variable(
    tmp_path: Path, mail_env: pytest.MonkeyPatch
) -> None:
    mail_env.setenv("MAILSET_PORT", "five")
    with pytest.raises(ConfigurationError) as caught:
        Carafe(extensions=[TypedSettings(MailSettings)])  # the class's own env_prefix
    assert str(caught.value).startswith(
        "MailSettings cannot be read from the environment: MAILSET_HOST: Field required; "
        "MAILSET_PORT: Input should be a valid integer"
    )
    with pytest.raises(ConfigurationError, match=r"missing\.env: cannot read the env file"):
        Carafe(extensions=[TypedSettings(MailSettings, env_file=tmp_path / "missing.env")])


# --- carafe run --env-file -------------------------------------------------------------

SERVED = """
import os
import msgspec
from carafe import Carafe
from carafe.config import TypedSettings

class Served(msgspec.Struct):
    greeting: str
    port: int

app = Carafe(extensions=[TypedSettings(Served, prefix="SERVED_")])
app.config.from_prefixed_env("SERVED")

@app.get("/")
def index(settings: Served) -> dict:
    return {"greeting": settings.greeting, "port": settings.port, "debug": app.debug,
            "title": app.config["TITLE"]}
"""


def test_carafe_run_loads_the_env_file_before_the_app(tmp_path: Path, live_server: Any) -> None:
    write(tmp_path / "served_config_app.py", SERVED)
    env_file = write(
        tmp_path / "prod.env",
        "export SERVED_GREETING='hello from .env'\nSERVED_PORT=8000\nSERVED_TITLE=Shop\n"
        "CARAFE_DEBUG=1\n",
    )
    server = live_server(
        "served_config_app:app", "--env-file", str(env_file), env={"PYTHONPATH": str(tmp_path)}
    )
    body = httpx.get(server.url + "/").json()
    assert body == {"greeting": "hello from .env", "port": 8000, "debug": True, "title": "Shop"}
    assert "(uvicorn, 1 worker, reload, debug)" in server.stop().splitlines()[0]


def test_carafe_run_rejects_a_malformed_env_file(tmp_path: Path) -> None:
    env_file = write(tmp_path / "bad.env", "GOOD=1\nnot a line\n")
    result = CliRunner().invoke(cli, ["run", "examples.demo:app", "--env-file", str(env_file)])
    assert result.exit_code == 2
    assert f"{env_file}, line 2: expected KEY=VALUE" in result.output
    assert "GOOD" not in os.environ


@pytest.mark.parametrize(
    ("variables", "env_file", "problem"),
    [
        ({}, "", "SERVED_GREETING: not set (Served.greeting is required)"),
        ({"SERVED_GREETING": "hi", "SERVED_PORT": "eighty"}, "", "SERVED_PORT: Expected `int`"),
        ({"SERVED_GREETING": "hi"}, "SERVED_PORT=eighty\n", "SERVED_PORT: Expected `int`"),
    ],
)
@pytest.mark.parametrize("options", [[], ["--workers", "2"], ["--reload"]])
def test_carafe_run_stops_at_startup_naming_the_setting(
    tmp_path: Path, variables: dict[str, str], env_file: str, problem: str, options: list[str]
) -> None:
    """A real ``carafe run``: a setting missing or ill-typed (in the environment or the
    ``--env-file``) is one line naming the variable and the user's line, before any
    server listens; never a traceback, never a first request that fails."""
    app_file = write(tmp_path / "served_config_app.py", SERVED)
    if env_file:
        options = [*options, "--env-file", str(write(tmp_path / "prod.env", env_file))]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("SERVED_")}
    path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    port = str(free_port())
    done = subprocess.run(
        [sys.executable, "-m", "carafe", "run", "served_config_app:app", "--port", port, *options],
        cwd=ROOT,
        env={**environment, **variables, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(
        "Error: importing 'served_config_app' failed: ConfigurationError: "
        "Served cannot be read from the environment: "
    )
    assert problem in line
    assert line.endswith(f"({app_file}, line 11)")  # the line that asked for the settings
    assert "Carafe serving" not in done.stderr  # no startup line: nothing was served
