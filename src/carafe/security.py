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
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any

import msgspec

from carafe.di import Dependency
from carafe.exceptions import HTTPError, RequestValidationError
from carafe.forms import Form
from carafe.requests import Request

if TYPE_CHECKING:
    from carafe._core.plan import Call
    from carafe.extensions import ParameterSite, Registry

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
    "SecurityExtension",
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

    ``scheme`` takes another word for APIs that use one, e.g. ``HTTPBearer(scheme="Token")``
    for ``Authorization: Token <jwt>`` (the word is matched without regard to case).
    OpenAPI's ``http`` type only names schemes of the IANA registry, where ``Token`` is
    not, and Swagger UI sends ``Bearer`` for it; so any other word is documented as an
    ``apiKey`` in the ``Authorization`` header, described as ``<scheme> <credentials>``
    (what the client must paste into Swagger UI's "Authorize" dialog).

    Args:
        bearer_format: A hint for the docs, e.g. ``"JWT"``.
        scheme: The word before the credentials (default ``"Bearer"``).
        scheme_name: See ``SecurityBase``.
        description: See ``SecurityBase``.
        auto_error: See ``SecurityBase``.
    """

    def __init__(
        self,
        *,
        bearer_format: str | None = None,
        scheme: str = "Bearer",
        scheme_name: str | None = None,
        description: str | None = None,
        auto_error: bool = True,
    ) -> None:
        if not scheme or not scheme.isascii() or not scheme.replace("-", "").isalnum():
            raise ValueError(f"HTTPBearer(scheme={scheme!r}) must be one word, like 'Token'")
        super().__init__(scheme_name=scheme_name, description=description, auto_error=auto_error)
        self.bearer_format = bearer_format
        self.scheme = scheme
        self._word = scheme.lower()
        self.challenge = scheme

    def _scheme(self) -> dict[str, Any]:
        if self._word != "bearer":
            what = f" ({self.bearer_format})" if self.bearer_format else ""
            return {
                "type": "apiKey",
                "in": "header",
                "name": "Authorization",
                "description": f"Send `Authorization: {self.scheme} <credentials>`{what}.",
            }
        scheme = {"type": "http", "scheme": "bearer"}
        if self.bearer_format:
            scheme["bearerFormat"] = self.bearer_format
        return scheme

    async def __call__(self, request: Request) -> HTTPAuthorizationCredentials | None:
        value = request.headers.get("authorization")
        parts = _split_authorization(request)
        if value is None or parts is None or parts[0] != self._word or not parts[1]:
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


def Security(
    dependency: Callable[..., Any], *, scopes: Sequence[str] = (), use_cache: bool = True
) -> Any:
    """``Depends(dependency)`` that also requires OAuth2 ``scopes``.

    The scopes reach any ``SecurityScopes`` parameter of ``dependency`` and of the
    dependencies below it (added to the scopes those ask for), and are listed in the
    operation's ``security`` in the OpenAPI document.
    """
    return Dependency(dependency, use_cache, scopes=tuple(scopes))


def security_of(call: Call) -> tuple[SecurityBase, tuple[str, ...]] | None:
    """The scheme and scopes a plan call stands for, if it is a security dependency."""
    if isinstance(call.fn, SecurityBase):
        return call.fn, call.scopes
    return None


def _scopes_extractor(site: ParameterSite) -> Callable[[Request], SecurityScopes]:
    scopes = site.scopes
    return lambda request: SecurityScopes(scopes)


class SecurityExtension:
    """Fills ``SecurityScopes`` parameters with the scopes required on the way to them."""

    def install(self, registry: Registry) -> None:
        registry.provide(SecurityScopes, per_parameter=_scopes_extractor)
