"""Configuration: ``app.config`` as in Flask, typed settings read once at startup, .env files.

``app.config`` is a ``Config``, a dict with Flask's loaders::

    app.config.from_mapping(PAGE_SIZE=20)
    app.config.from_toml("settings.toml", table="shop")
    app.config.from_prefixed_env()            # CARAFE_PAGE_SIZE=50 -> config["PAGE_SIZE"] == 50

Typed settings are a ``msgspec.Struct`` the app fills from the environment (and an
optional ``.env`` file) when the ``TypedSettings`` extension is installed, that is when
the app is created; handlers and dependencies receive the one instance by annotation::

    class Shop(msgspec.Struct):
        port: int
        debug: bool = False

    app = Carafe(extensions=[TypedSettings(Shop, prefix="SHOP_", env_file=".env")])

    @app.get("/port")
    def port(settings: Shop) -> int:
        return settings.port

A missing or ill-typed variable raises ``ConfigurationError`` naming it
(``SHOP_PORT: Expected `int`, got `str```) before anything serves.

``.env`` files are read by ``read_env_file``: ``KEY=VALUE`` lines, ``export`` allowed,
``#`` comments, single quotes (literal) and double quotes (``\\n``, ``\\t``, ``\\"``,
``\\\\`` escapes). No variable expansion, no multi-line values. A line it cannot read is a
``ConfigurationError`` naming the file and the line.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from carafe.exceptions import ConfigurationError

if TYPE_CHECKING:
    from carafe.extensions import Registry

__all__ = ["Config", "TypedSettings", "load_env_file", "read_env_file"]

S = TypeVar("S")

_LINE = re.compile(r"\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


class Config(dict[str, Any]):
    """The app's configuration: a dict, filled by Flask's loaders.

    The loaders take upper-case keys only (``from_mapping``, ``from_object``,
    ``from_toml``), so lower-case helpers in a module or a TOML table stay out.
    ``Carafe`` reads ``DEBUG`` and ``SECRET_KEY`` from it (``app.debug`` and
    ``app.secret_key`` are views of those two keys).
    """

    def from_mapping(self, mapping: Mapping[str, Any] | None = None, **kwargs: Any) -> bool:
        """Take the upper-case keys of ``mapping`` and of ``kwargs``.

        Returns:
            True, as Flask does.
        """
        items = {**(mapping or {}), **kwargs}
        self.update({key: value for key, value in items.items() if key.isupper()})
        return True

    def from_object(self, obj: object | str) -> None:
        """Take the upper-case attributes of ``obj``: a module, a class, an instance, or
        an import path (``"shop.settings"``, ``"shop.settings:Production"``)."""
        if isinstance(obj, str):
            obj = _import_object(obj)
        self.update({key: getattr(obj, key) for key in dir(obj) if key.isupper()})

    def from_toml(self, path: str | os.PathLike[str], *, table: str | None = None) -> bool:
        """Take the upper-case keys of a TOML file, or of one of its tables.

        Args:
            path: The file.
            table: A dotted table name (``"tool.shop"``) to read instead of the top level.

        Raises:
            ConfigurationError: The file is missing, is not TOML, or has no such table.
        """
        import tomllib  # NOTE: on use: importing carafe stays cheap

        try:
            with open(path, "rb") as file:
                data: Any = tomllib.load(file)
        except OSError as exc:
            message = f"{path}: cannot read the config file ({exc.strerror})"
            raise ConfigurationError(message) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigurationError(f"{path}: not valid TOML: {exc}") from None
        for name in table.split(".") if table else ():
            data = data.get(name) if isinstance(data, dict) else None
            if not isinstance(data, dict):
                raise ConfigurationError(f"{path}: no table [{table}]")
        return self.from_mapping(data)

    def from_prefixed_env(
        self, prefix: str = "CARAFE", *, loads: Callable[[str], Any] | None = None
    ) -> bool:
        """Take the environment variables named ``PREFIX_KEY`` as ``config["KEY"]``.

        Values are parsed with ``loads`` (default ``json.loads``: ``50`` is an int,
        ``true`` a bool) and kept as strings when they do not parse. ``__`` nests:
        ``CARAFE_DATABASE__URL`` sets ``config["DATABASE"]["URL"]``.
        """
        if loads is None:
            import json

            loads = json.loads
        start = f"{prefix}_"
        for name in sorted(os.environ):
            if not name.startswith(start):
                continue
            raw = os.environ[name]
            try:
                value = loads(raw)
            except Exception:
                value = raw
            *parents, key = name[len(start) :].split("__")
            target: dict[str, Any] = self
            for part in parents:
                if not isinstance(target.get(part), dict):
                    target[part] = {}
                target = target[part]
            target[key] = value
        return True

    def get_namespace(
        self, namespace: str, *, lowercase: bool = True, trim_namespace: bool = True
    ) -> dict[str, Any]:
        """The keys that start with ``namespace``, e.g. for keyword arguments::

        app.config["MAIL_HOST"] = "smtp"
        app.config.get_namespace("MAIL_")  # {"host": "smtp"}
        """
        found: dict[str, Any] = {}
        for key, value in self.items():
            if not key.startswith(namespace):
                continue
            name = key[len(namespace) :] if trim_namespace else key
            found[name.lower() if lowercase else name] = value
        return found

    def __repr__(self) -> str:
        return f"<Config {dict.__repr__(self)}>"


def _import_object(path: str) -> object:
    module, _, attribute = path.partition(":")
    try:
        obj: object = importlib.import_module(module)
        for part in attribute.split(".") if attribute else ():
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"cannot import the config object {path!r}: {exc}") from None
    return obj


# --- .env files ----------------------------------------------------------------------


def read_env_file(path: str | os.PathLike[str]) -> dict[str, str]:
    """The variables a ``.env`` file sets, in order (see the module docstring).

    Raises:
        ConfigurationError: The file cannot be read, or a line is not ``KEY=VALUE``
            (the message names the file and the line).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"{path}: cannot read the env file ({exc})") from None
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = _LINE.fullmatch(line)
        try:
            if match is None:
                raise ValueError("expected KEY=VALUE")
            found[match.group(1)] = _env_value(match.group(2))
        except ValueError as exc:
            raise ConfigurationError(f"{path}, line {number}: {exc}") from None
    return found


def _env_value(text: str) -> str:
    """One value: quoted (the rest may only be a comment) or bare (``#`` after a space
    starts a comment)."""
    quote = text.lstrip()[:1]
    if quote not in ("'", '"'):
        return re.split(r"\s#", text, maxsplit=1)[0].strip()
    text = text.lstrip()
    value: list[str] = []
    index = 1
    while index < len(text):
        char = text[index]
        if char == quote:
            rest = text[index + 1 :].strip()
            if rest and not rest.startswith("#"):
                raise ValueError(f"unexpected text after the closing quote: {rest!r}")
            return "".join(value)
        if char == "\\" and quote == '"' and index + 1 < len(text):
            index += 1
            char = _ESCAPES.get(text[index], "\\" + text[index])
        value.append(char)
        index += 1
    raise ValueError(f"no closing {quote} quote")


def load_env_file(path: str | os.PathLike[str], *, override: bool = False) -> dict[str, str]:
    """Put a ``.env`` file's variables into ``os.environ``; the ones already set win
    unless ``override``. Returns what the file set."""
    found = read_env_file(path)
    for key, value in found.items():
        if override or key not in os.environ:
            os.environ[key] = value
    return found


# --- Typed settings ------------------------------------------------------------------


class TypedSettings(Generic[S]):
    """An extension that reads a ``msgspec.Struct`` of settings from the environment
    (or a pydantic-settings ``BaseSettings``, when that library is installed).

    Each field ``name`` comes from the variable ``PREFIX`` + ``NAME`` (upper-cased),
    converted leniently (``"8000"`` is an ``int``, ``"true"`` a ``bool``; lists, dicts
    and nested structs are written as JSON). The environment wins over ``env_file``.
    The values are read once, when the extension is installed into an app (at
    ``Carafe(extensions=[...])`` or ``app.extend(...)``), so a mistake stops the app
    before it serves; parameters annotated with ``settings`` get that instance.

    A ``BaseSettings`` class is read by pydantic-settings, with its own rules (its
    ``model_config``, python-dotenv for ``env_file``); ``prefix`` and ``env_file``
    are passed on when given, and its errors are reported the same way.

    Args:
        settings: The Struct (or ``BaseSettings``) class.
        prefix: Prepended to each upper-cased field name, e.g. ``"SHOP_"``.
        env_file: A ``.env`` file to read as well; a missing file is an error unless
            ``env_file_required=False``.
        env_file_required: Whether ``env_file`` must exist.

    Raises:
        ConfigurationError: At install: a variable is missing or does not convert; the
            message names each variable at fault.
    """

    def __init__(
        self,
        settings: type[S],
        *,
        prefix: str = "",
        env_file: str | os.PathLike[str] | None = None,
        env_file_required: bool = True,
    ) -> None:
        if not (_is_struct(settings) or _is_base_settings(settings)):
            raise TypeError(
                f"TypedSettings takes a msgspec.Struct or BaseSettings class, not {settings!r}"
            )
        self.settings = settings
        self.prefix = prefix
        self.env_file = env_file
        self.env_file_required = env_file_required
        self._value: S | None = None

    @property
    def value(self) -> S:
        """The settings, read on first use (installing the extension uses it)."""
        if self._value is None:
            self._value = self._read()
        return self._value

    def install(self, registry: Registry) -> None:
        value = self.value  # NOTE: read here, at startup, never at a request

        def provide(request: object) -> S:
            return value

        registry.provide(self.settings, provide)

    def _environment(self) -> dict[str, str]:
        found: dict[str, str] = {}
        if self.env_file is not None and (self.env_file_required or Path(self.env_file).exists()):
            found.update(read_env_file(self.env_file))
        found.update(os.environ)
        return found

    def _read(self) -> S:
        if _is_base_settings(self.settings):
            return self._read_base_settings()
        environment = self._environment()
        name = self.settings.__name__
        values: dict[str, Any] = {}
        problems: list[str] = []
        for field in msgspec.structs.fields(self.settings):  # type: ignore[arg-type]
            variable = self.prefix + field.name.upper()
            raw = environment.get(variable)
            if raw is None:
                if field.required:
                    problems.append(f"{variable}: not set ({name}.{field.name} is required)")
                continue
            try:
                values[field.encode_name] = _convert(raw, field.type)
            except msgspec.ValidationError as exc:
                problems.append(f"{variable}: {str(exc).replace(' - at `$`', '')}")
        if not problems:
            try:
                return msgspec.convert(values, self.settings, strict=False)
            except msgspec.ValidationError as exc:  # a __post_init__ check, say
                problems.append(f"{name}: {exc}")
        message = f"{name} cannot be read from the environment: " + "; ".join(problems)
        raise ConfigurationError(message)

    def _read_base_settings(self) -> S:
        from pydantic import ValidationError

        options: dict[str, Any] = {}
        if self.prefix:
            options["_env_prefix"] = self.prefix
        if self.env_file is not None:
            if self.env_file_required and not Path(self.env_file).is_file():
                raise ConfigurationError(f"{self.env_file}: cannot read the env file")
            options["_env_file"] = self.env_file
        try:
            return self.settings(**options)
        except ValidationError as exc:
            config: Any = getattr(self.settings, "model_config", {})
            prefix = self.prefix or config.get("env_prefix", "")
            problems = [
                f"{(prefix + str(error['loc'][0])).upper()}: {error['msg']}"
                for error in exc.errors()
            ]
        name = self.settings.__name__
        message = f"{name} cannot be read from the environment: " + "; ".join(problems)
        raise ConfigurationError(message)


def _is_struct(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, msgspec.Struct)


def _is_base_settings(tp: Any) -> bool:
    # NOTE: a BaseSettings class exists only once pydantic_settings is imported.
    module = sys.modules.get("pydantic_settings")
    return module is not None and isinstance(tp, type) and issubclass(tp, module.BaseSettings)


def _convert(raw: str, tp: Any) -> Any:
    """An environment string as ``tp``: lenient conversion, then JSON for structured types."""
    try:
        return msgspec.convert(raw, tp, strict=False)
    except msgspec.ValidationError as exc:
        first = exc
    try:
        decoded = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise first from None
    return msgspec.convert(decoded, tp, strict=False)
