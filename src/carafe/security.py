"""Security helpers: dependencies that read credentials, and show up in the API docs.

Each scheme is a dependency callable (use it with ``Depends``); it returns what the
client sent and leaves checking it to you. A missing or malformed credential is a 401
with the ``WWW-Authenticate`` challenge the scheme calls for, unless the scheme was made
with ``auto_error=False`` (then the dependency gives ``None``). Every scheme a route
reaches is listed in the OpenAPI document (``components.securitySchemes`` and the
operation's ``security``), so Swagger UI offers "Authorize" for it.

    oauth2 = OAuth2PasswordBearer(token_url="/token", scopes={"items": "Read items"})

    async def current_user(scopes: SecurityScopes, token: str = Depends(oauth2)) -> User:
        user = await users.by_token(token)      # yours: 401 if unknown
        scopes.check(user.scopes)               # 403 unless every required scope is granted
        return user

    @app.get("/items")
    async def items(user: User = Security(current_user, scopes=["items"])) -> list[Item]: ...

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict: ...
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any

import msgspec

from carafe._core import plan as _plan
from carafe.di import Dependency
from carafe.exceptions import HTTPError, RequestValidationError
from carafe.forms import Form
from carafe.requests import Request

__all__ = [
    "APIKeyCookie",
    "APIKeyHeader",
    "APIKeyQuery",
    "HTTPAuthorizationCredentials",
    "HTTPBasic",
    "HTTPBasicCredentials",
    "HTTPBearer",
    "OAuth2PasswordBearer",
    "OAuth2PasswordRequestForm",
    "Security",
    "SecurityBase",
    "SecurityScopes",
]


class SecurityBase:
    """What every scheme has: its name in the OpenAPI document and how it fails.

    Args:
        scheme_name: The key in ``components.securitySchemes`` (default: the class name).
        description: Shown in the docs.
        auto_error: False gives ``None`` instead of a 401 when no credential was sent.
    """

    challenge = "Bearer"

    def __init__(
        self,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        self.scheme_name = scheme_name or type(self).__name__
        self.description = description
        self.auto_error = auto_error

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI Security Scheme Object."""
        scheme = self._scheme()
        if self.description:
            scheme["description"] = self.description
        return scheme

    def _scheme(self) -> dict[str, Any]:
        raise NotImplementedError

    def _unauthorized(self, detail: str = "Not authenticated") -> None:
        if self.auto_error:
            raise HTTPError(401, detail, {"WWW-Authenticate": self.challenge})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(scheme_name={self.scheme_name!r})"


def _split_authorization(request: Request) -> tuple[str, str] | None:
    value = request.headers.get("authorization")
    if not value:
        return None
    scheme, _, credentials = value.strip().partition(" ")
    return scheme.lower(), credentials.strip()


# --- OAuth2 ---------------------------------------------------------------------------


class OAuth2PasswordBearer(SecurityBase):
    """OAuth2's password flow: the client gets a token at ``token_url``, then sends it
    as ``Authorization: Bearer <token>``. The dependency returns the token.

    Args:
        token_url: Where the token form is posted (relative URLs resolve against the docs).
        scopes: Scope names and what each grants, offered in Swagger UI's login dialog.
        refresh_url: Where tokens are refreshed, if anywhere.
        scheme_name: See ``SecurityBase``.
        description: See ``SecurityBase``.
        auto_error: See ``SecurityBase``.
    """

    def __init__(
        self,
        token_url: str,
        scopes: dict[str, str] | None = None,
        *,
        refresh_url: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.token_url = token_url
        self.scopes = dict(scopes or {})
        self.refresh_url = refresh_url

    def _scheme(self) -> dict[str, Any]:
        flow: dict[str, Any] = {"tokenUrl": self.token_url, "scopes": self.scopes}
        if self.refresh_url:
            flow["refreshUrl"] = self.refresh_url
        return {"type": "oauth2", "flows": {"password": flow}}

    async def __call__(self, request: Request) -> str | None:
        parts = _split_authorization(request)
        if parts is None or parts[0] != "bearer" or not parts[1]:
            self._unauthorized()
            return None
        return parts[1]


class OAuth2PasswordRequestForm:
    """The token request of OAuth2's password flow (RFC 6749 section 4.3), read from an
    ``application/x-www-form-urlencoded`` body. Use it as
    ``form: Annotated[OAuth2PasswordRequestForm, Depends()]``.

    Attributes:
        username: The user's name.
        password: The user's password.
        scopes: The requested scopes (the ``scope`` field split on spaces).
        grant_type: ``"password"`` when the client sent it.
        client_id: The client's id, if sent in the form.
        client_secret: The client's secret, if sent in the form.
    """

    def __init__(
        self,
        username: Annotated[str, Form()],
        password: Annotated[str, Form()],
        scope: Annotated[str, Form("")] = "",
        grant_type: Annotated[str | None, Form(None)] = None,
        client_id: Annotated[str | None, Form(None)] = None,
        client_secret: Annotated[str | None, Form(None)] = None,
    ) -> None:
        if grant_type is not None and grant_type != "password":
            raise RequestValidationError(
                [{"loc": ["form", "grant_type"], "msg": "Expected password", "type": "value_error"}]
            )
        self.username = username
        self.password = password
        self.scopes = scope.split()
        self.grant_type = grant_type
        self.client_id = client_id
        self.client_secret = client_secret


# --- HTTP authentication --------------------------------------------------------------


class HTTPBasicCredentials(msgspec.Struct, frozen=True):
    """What ``HTTPBasic`` returns."""

    username: str
    password: str


class HTTPAuthorizationCredentials(msgspec.Struct, frozen=True):
    """What ``HTTPBearer`` returns: the scheme as sent (``Bearer``) and the credentials."""

    scheme: str
    credentials: str


class HTTPBasic(SecurityBase):
    """HTTP Basic authentication (RFC 7617); returns ``HTTPBasicCredentials``.

    Args:
        realm: Named in the challenge, so browsers can say what they are logging in to.
        scheme_name: See ``SecurityBase``.
        description: See ``SecurityBase``.
        auto_error: See ``SecurityBase``.
    """

    def __init__(
        self,
        *,
        realm: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.realm = realm
        self.challenge = f'Basic realm="{realm}"' if realm else "Basic"

    def _scheme(self) -> dict[str, Any]:
        return {"type": "http", "scheme": "basic"}

    async def __call__(self, request: Request) -> HTTPBasicCredentials | None:
        parts = _split_authorization(request)
        if parts is None or parts[0] != "basic":
            self._unauthorized()
            return None
        try:
            decoded = base64.b64decode(parts[1], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            decoded = ""
        username, colon, password = decoded.partition(":")
        if not colon:
            # A malformed credential is an error even with auto_error=False: the client
            # tried to log in and must learn that it failed.
            raise HTTPError(401, "Invalid Basic credentials", {"WWW-Authenticate": self.challenge})
        return HTTPBasicCredentials(username, password)


class HTTPBearer(SecurityBase):
    """An ``Authorization: Bearer <token>`` header; returns ``HTTPAuthorizationCredentials``.

    Args:
        bearer_format: A hint for the docs, e.g. ``"JWT"``.
        scheme_name: See ``SecurityBase``.
        description: See ``SecurityBase``.
        auto_error: See ``SecurityBase``.
    """

    def __init__(
        self,
        *,
        bearer_format: str | None = None,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.bearer_format = bearer_format

    def _scheme(self) -> dict[str, Any]:
        scheme = {"type": "http", "scheme": "bearer"}
        if self.bearer_format:
            scheme["bearerFormat"] = self.bearer_format
        return scheme

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        value = request.headers.get("authorization")
        parts = _split_authorization(request)
        if value is None or parts is None or parts[0] != "bearer" or not parts[1]:
            self._unauthorized()
            return None
        return HTTPAuthorizationCredentials(value.strip().split(" ", 1)[0], parts[1])


# --- API keys -------------------------------------------------------------------------


class _APIKey(SecurityBase):
    location = "header"

    def __init__(
        self,
        name: str,
        *,
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.name = name
        self.challenge = "APIKey"

    def _scheme(self) -> dict[str, Any]:
        return {"type": "apiKey", "in": self.location, "name": self.name}

    def _read(self, request: Request) -> str | None:
        raise NotImplementedError

    async def __call__(self, request: Request) -> str | None:
        key = self._read(request)
        if not key:
            self._unauthorized(
                f"Not authenticated: send the API key in the {self.location} {self.name!r}"
            )
            return None
        return key


class APIKeyHeader(_APIKey):
    """An API key in a request header, e.g. ``APIKeyHeader(name="X-API-Key")``."""

    location = "header"

    def _read(self, request: Request) -> str | None:
        value: str | None = request.headers.get(self.name)
        return value


class APIKeyQuery(_APIKey):
    """An API key in a query parameter, e.g. ``APIKeyQuery(name="api_key")``."""

    location = "query"

    def _read(self, request: Request) -> str | None:
        value: str | None = request.query_params.get(self.name)
        return value


class APIKeyCookie(_APIKey):
    """An API key in a cookie, e.g. ``APIKeyCookie(name="key")``."""

    location = "cookie"

    def _read(self, request: Request) -> str | None:
        return request.cookies.get(self.name)


# --- Scopes ---------------------------------------------------------------------------


class SecurityScopes:
    """The scopes required by every ``Security(...)`` on the way to this dependency.

    Annotate a dependency's parameter with ``SecurityScopes`` to receive them.
    """

    __slots__ = ("scopes",)

    def __init__(self, scopes: Sequence[str] = ()) -> None:
        self.scopes = list(scopes)

    @property
    def scope_str(self) -> str:
        """The scopes joined by spaces, as OAuth2 writes them."""
        return " ".join(self.scopes)

    def check(self, granted: Sequence[str]) -> None:
        """Raise 403 (RFC 6750 ``insufficient_scope``) unless every scope is in ``granted``."""
        missing = [scope for scope in self.scopes if scope not in granted]
        if missing:
            challenge = f'Bearer error="insufficient_scope", scope="{self.scope_str}"'
            raise HTTPError(
                403,
                f"Not enough permissions: the scope {' '.join(missing)!r} is required",
                {"WWW-Authenticate": challenge},
            )

    def __repr__(self) -> str:
        return f"SecurityScopes({self.scopes!r})"


_plan.register_injectable(SecurityScopes, lambda request: SecurityScopes())

# (dependency, scopes) -> its wrapper, so one scoped dependency runs once per request.
_scoped_cache: dict[tuple[Any, tuple[str, ...]], Callable[..., Any]] = {}
_needs_cache: dict[Any, bool] = {}


def Security(
    dependency: Callable[..., Any], *, scopes: Sequence[str] = (), use_cache: bool = True
) -> Any:
    """``Depends(dependency)`` that also requires OAuth2 ``scopes``.

    The scopes reach any ``SecurityScopes`` parameter of ``dependency`` and of the
    dependencies below it (added to the scopes those ask for), and are listed in the
    operation's ``security`` in the OpenAPI document.
    """
    return Dependency(_scoped(dependency, tuple(scopes)), use_cache)


def security_of(fn: Any) -> tuple[SecurityBase, tuple[str, ...]] | None:
    """The scheme and scopes a plan call stands for, if it is a security dependency."""
    scoped = getattr(fn, "__carafe_security__", None)
    if scoped is not None:
        fn, scopes = scoped
    else:
        scopes = ()
    if isinstance(fn, SecurityBase):
        return fn, scopes
    return None


def _needs_scopes(fn: Any) -> bool:
    """Whether ``fn`` or a dependency below it takes ``SecurityScopes`` or is a scheme."""
    if isinstance(fn, SecurityBase) or hasattr(fn, "__carafe_security__"):
        return True
    known = _needs_cache.get(fn)
    if known is not None:
        return known
    _needs_cache[fn] = False  # a cycle reads False; the plan reports cycles
    found = any(
        kind == "scopes" or (kind == "dep" and _needs_scopes(target))
        for _, kind, target in _parameters(fn)
    )
    _needs_cache[fn] = found
    return found


def _parameters(fn: Any) -> list[tuple[str, str, Any]]:
    """``(name, kind, target)`` per parameter: kind is "scopes", "dep" or "other"."""
    signature, hints = _plan._signature(fn)
    found: list[tuple[str, str, Any]] = []
    for name in signature.parameters:
        base, extras = _plan._split_annotated(hints.get(name, Any))
        dependency = next((e for e in extras if isinstance(e, Dependency)), None)
        default = signature.parameters[name].default
        if isinstance(default, Dependency):
            dependency = default
        if isinstance(base, type) and issubclass(base, SecurityScopes):
            found.append((name, "scopes", None))
        elif dependency is not None:
            found.append((name, "dep", dependency.dependency or base))
        else:
            found.append((name, "other", None))
    return found


def _scoped(dependency: Callable[..., Any], scopes: tuple[str, ...]) -> Callable[..., Any]:
    inner = getattr(dependency, "__carafe_security__", None)
    if inner is not None:  # Security(Security(f, a), b) is Security(f, b + a)
        dependency, scopes = inner[0], scopes + tuple(s for s in inner[1] if s not in scopes)
    key = (dependency, scopes)
    wrapper = _scoped_cache.get(key)
    if wrapper is None:
        wrapper = _scoped_cache[key] = _wrap(dependency, scopes)
    return wrapper


def _rescope(dependency: Dependency, target: Any, scopes: tuple[str, ...]) -> Dependency:
    """``dependency`` pointed at a scoped wrapper when ``target`` needs the scopes."""
    if not _needs_scopes(target):
        return dependency
    return Dependency(_scoped(target, scopes), dependency.use_cache)


def _wrap(dependency: Callable[..., Any], scopes: tuple[str, ...]) -> Callable[..., Any]:
    """A function that calls ``dependency`` with ``SecurityScopes(scopes)`` filled in and
    the scopes passed on to the dependencies below it. Built once, at startup."""
    signature, hints = _plan._signature(dependency)
    kept: list[inspect.Parameter] = []
    annotations: dict[str, Any] = {}
    scope_names: list[str] = []
    for name, kind, target in _parameters(dependency):
        parameter = signature.parameters[name]
        annotation = hints.get(name, Any)
        if kind == "scopes":
            scope_names.append(name)
            continue
        if kind == "dep":
            base, extras = _plan._split_annotated(annotation)
            if isinstance(parameter.default, Dependency):
                parameter = parameter.replace(default=_rescope(parameter.default, target, scopes))
            else:
                extras = tuple(
                    _rescope(e, target, scopes) if isinstance(e, Dependency) else e for e in extras
                )
                annotation = Annotated[(base, *extras)]
        annotations[name] = annotation
        kept.append(parameter.replace(annotation=annotation))
    granted = SecurityScopes(scopes)

    def fill(kwargs: dict[str, Any]) -> dict[str, Any]:
        for name in scope_names:
            kwargs[name] = granted
        return kwargs

    wrapper = _wrapper_for(_plan.call_kind(dependency), dependency, fill)
    wrapper.__signature__ = signature.replace(parameters=kept)  # type: ignore[attr-defined]
    wrapper.__annotations__ = annotations
    wrapper.__name__ = wrapper.__qualname__ = getattr(
        dependency, "__qualname__", type(dependency).__qualname__
    )
    wrapper.__carafe_security__ = (dependency, scopes)  # type: ignore[attr-defined]

    def rebind(overrides: Mapping[Any, Any]) -> Callable[..., Any]:
        replacement = overrides.get(dependency)
        return wrapper if replacement is None else _scoped(replacement, scopes)

    wrapper.__carafe_rebind__ = rebind  # type: ignore[attr-defined]
    return wrapper


def _wrapper_for(
    kind: str, dependency: Callable[..., Any], fill: Callable[[dict[str, Any]], dict[str, Any]]
) -> Callable[..., Any]:
    if kind == "async":

        async def call_async(**kwargs: Any) -> Any:
            return await dependency(**fill(kwargs))

        return call_async
    if kind == "gen":

        def call_gen(**kwargs: Any) -> Any:
            return (yield from dependency(**fill(kwargs)))

        return call_gen
    if kind == "asyncgen":

        async def call_asyncgen(**kwargs: Any) -> Any:
            # An async generator cannot ``yield from``: pass the value out and any
            # exception thrown in at the yield back down, by hand.
            generator = dependency(**fill(kwargs))
            value = await generator.__anext__()
            try:
                yield value
            except BaseException as exc:
                with contextlib.suppress(StopAsyncIteration):
                    await generator.athrow(exc)
                return
            with contextlib.suppress(StopAsyncIteration):
                await generator.__anext__()

        return call_asyncgen

    def call_sync(**kwargs: Any) -> Any:
        return dependency(**fill(kwargs))

    return call_sync
