"""Security helpers: what a client sees when it sends (or fails to send) credentials."""

import base64
from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any

import pytest

from carafe import Carafe, Depends
from carafe.security import (
    APIKeyCookie,
    APIKeyHeader,
    APIKeyQuery,
    HTTPAuthorizationCredentials,
    HTTPBasic,
    HTTPBasicCredentials,
    HTTPBearer,
    OAuth2PasswordBearer,
    OAuth2PasswordRequestForm,
    Security,
    SecurityScopes,
)
from carafe.testing import TestClient


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def client_for(*schemes: Any) -> TestClient:
    """An app with one route per scheme, answering what the scheme returned."""
    app = Carafe(docs=None)
    for index, scheme in enumerate(schemes):

        async def handler(value: Annotated[Any, Depends(scheme)]) -> dict[str, Any]:
            return {"value": value}

        app.add_route(f"/{index}", handler, name=f"r{index}")
    return TestClient(app)


# --- OAuth2 bearer --------------------------------------------------------------------


def test_oauth2_bearer_returns_the_token() -> None:
    with client_for(OAuth2PasswordBearer("/token")) as client:
        response = client.get("/0", headers={"Authorization": "Bearer abc.def"})
        assert response.json() == {"value": "abc.def"}


@pytest.mark.parametrize("header", [None, "Basic abc", "Bearer", "Bearer   "])
def test_oauth2_bearer_missing_or_wrong_is_401(header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    with client_for(OAuth2PasswordBearer("/token")) as client:
        response = client.get("/0", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "Not authenticated"


def test_optional_schemes_give_none() -> None:
    schemes = [
        OAuth2PasswordBearer("/token", auto_error=False),
        HTTPBasic(auto_error=False),
        HTTPBearer(auto_error=False),
        APIKeyHeader("X-Key", auto_error=False),
        APIKeyQuery("key", auto_error=False),
        APIKeyCookie("key", auto_error=False),
    ]
    with client_for(*schemes) as client:
        for index in range(len(schemes)):
            assert client.get(f"/{index}").json() == {"value": None}


# --- HTTP Basic and Bearer ------------------------------------------------------------


def test_http_basic_returns_credentials() -> None:
    app = Carafe(docs=None)
    security = HTTPBasic(realm="shop")

    @app.get("/")
    async def who(
        credentials: Annotated[HTTPBasicCredentials, Depends(security)],
    ) -> dict[str, str]:
        return {"user": credentials.username, "password": credentials.password}

    with TestClient(app) as client:
        assert client.get("/", headers=basic("ann", "p:w")).json() == {
            "user": "ann",
            "password": "p:w",
        }
        missing = client.get("/")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == 'Basic realm="shop"'


@pytest.mark.parametrize(
    "header",
    ["Basic !!!notbase64", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic //8="],
)
def test_http_basic_malformed_is_401_even_when_optional(header: str) -> None:
    with client_for(HTTPBasic(auto_error=False)) as client:
        response = client.get("/0", headers={"Authorization": header})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Basic"
        assert response.json()["detail"] == "Invalid Basic credentials"


def test_http_bearer() -> None:
    with client_for(HTTPBearer()) as client:
        ok = client.get("/0", headers={"Authorization": "Bearer tok"})
        assert ok.json() == {"value": {"scheme": "Bearer", "credentials": "tok"}}
        wrong = client.get("/0", headers={"Authorization": "Token tok"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
    credentials = HTTPAuthorizationCredentials("Bearer", "x")
    assert credentials.credentials == "x"


def test_http_bearer_with_another_scheme_word() -> None:
    token = HTTPBearer(scheme="Token", bearer_format="JWT")
    with client_for(token) as client:
        ok = client.get("/0", headers={"Authorization": "token abc.def"})
        assert ok.json() == {"value": {"scheme": "token", "credentials": "abc.def"}}
        for header in ("Bearer abc", "Token", "Tokenabc"):
            refused = client.get("/0", headers={"Authorization": header})
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == "Token"
        assert client.get("/0").status_code == 401
    assert token.openapi() == {
        "type": "apiKey",
        "in": "header",
        "name": "Authorization",
        "description": "Send `Authorization: Token <credentials>` (JWT).",
    }
    described = HTTPBearer(scheme="Token", description="A JWT from POST /users/login")
    assert described.openapi()["description"] == "A JWT from POST /users/login"
    assert HTTPBearer(scheme="bearer").openapi() == {"type": "http", "scheme": "bearer"}
    for word in ("", "Two words", "Tök"):
        with pytest.raises(ValueError, match="must be one word"):
            HTTPBearer(scheme=word)


def test_optional_auth_is_documented_as_optional() -> None:
    app = Carafe()
    maybe = HTTPBearer(scheme="Token", auto_error=False, scheme_name="Token")

    @app.get("/articles")
    async def articles(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(maybe)],
    ) -> dict[str, str | None]:
        return {"reader": credentials.credentials if credentials else None}

    with TestClient(app) as client:
        assert client.get("/articles").json() == {"reader": None}
        signed_in = client.get("/articles", headers={"Authorization": "Token jwt"})
        assert signed_in.json() == {"reader": "jwt"}
        document = client.get("/openapi.json").json()
    operation = document["paths"]["/articles"]["get"]
    assert operation["security"] == [{"Token": []}, {}]
    assert "401" not in operation["responses"]
    assert document["components"]["securitySchemes"]["Token"]["type"] == "apiKey"


# --- API keys -------------------------------------------------------------------------


def test_api_keys_in_header_query_and_cookie() -> None:
    schemes = [APIKeyHeader("X-API-Key"), APIKeyQuery("api_key"), APIKeyCookie("session")]
    with client_for(*schemes) as client:
        assert client.get("/0", headers={"x-api-key": "k1"}).json() == {"value": "k1"}
        assert client.get("/1", params={"api_key": "k2"}).json() == {"value": "k2"}
        client.cookies.set("session", "k3")
        assert client.get("/2").json() == {"value": "k3"}
        client.cookies.clear()
        for index, where in enumerate(
            ["header 'X-API-Key'", "query 'api_key'", "cookie 'session'"]
        ):
            response = client.get(f"/{index}")
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "APIKey"
            assert (
                response.json()["detail"] == f"Not authenticated: send the API key in the {where}"
            )


def test_scheme_repr_and_openapi() -> None:
    assert repr(APIKeyHeader("X-Key", scheme_name="key")) == "APIKeyHeader(scheme_name='key')"
    assert HTTPBearer().openapi() == {"type": "http", "scheme": "bearer"}
    assert HTTPBearer(bearer_format="JWT", description="A JWT").openapi() == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT",
    }
    assert OAuth2PasswordBearer("/t", {"a": "A"}, refresh_url="/r").openapi() == {
        "type": "oauth2",
        "flows": {"password": {"tokenUrl": "/t", "scopes": {"a": "A"}, "refreshUrl": "/r"}},
    }


# --- The token form -------------------------------------------------------------------


def token_app() -> Carafe:
    app = Carafe(docs=None)

    @app.post("/token")
    async def token(form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> dict[str, Any]:
        return {
            "username": form.username,
            "password": form.password,
            "scopes": form.scopes,
            "grant_type": form.grant_type,
            "client_id": form.client_id,
            "client_secret": form.client_secret,
        }

    return app


def test_password_form_is_read_from_urlencoded_body() -> None:
    with TestClient(token_app()) as client:
        response = client.post(
            "/token",
            data={
                "username": "ann",
                "password": "pw",
                "scope": "items me",
                "grant_type": "password",
            },
        )
        assert response.json() == {
            "username": "ann",
            "password": "pw",
            "scopes": ["items", "me"],
            "grant_type": "password",
            "client_id": None,
            "client_secret": None,
        }


def test_password_form_errors() -> None:
    with TestClient(token_app()) as client:
        missing = client.post("/token", data={"username": "ann"})
        assert missing.status_code == 422
        assert [e["loc"] for e in missing.json()["errors"]] == [["form", "password"]]
        grant = client.post(
            "/token", data={"username": "a", "password": "b", "grant_type": "client_credentials"}
        )
        assert grant.status_code == 422
        assert grant.json()["errors"] == [
            {"loc": ["form", "grant_type"], "msg": "Expected password", "type": "value_error"}
        ]
        wrong_type = client.post("/token", json={"username": "a", "password": "b"})
        assert wrong_type.status_code == 415


# --- Scopes ---------------------------------------------------------------------------

oauth2 = OAuth2PasswordBearer("/token", {"read": "Read", "write": "Write", "admin": "Admin"})
GRANTS = {"reader": ["read"], "writer": ["read", "write"]}


async def current_user(scopes: SecurityScopes, token: str = Depends(oauth2)) -> str:
    scopes.check(GRANTS.get(token, []))
    return token


async def active_user(user: Annotated[str, Security(current_user, scopes=["read"])]) -> str:
    return user


def scopes_app() -> Carafe:
    app = Carafe(docs=None)

    @app.get("/read")
    async def read(user: Annotated[str, Security(active_user)]) -> str:
        return user

    @app.get("/write")
    async def write(user: str = Security(active_user, scopes=["write"])) -> str:
        return user

    @app.get("/plain")
    async def plain(user: str = Depends(current_user)) -> str:
        return user

    return app


def test_scopes_accumulate_down_the_chain() -> None:
    with TestClient(scopes_app()) as client:
        reader = {"Authorization": "Bearer reader"}
        assert client.get("/read", headers=reader).text == "reader"
        denied = client.get("/write", headers=reader)
        assert denied.status_code == 403
        assert denied.headers["www-authenticate"] == (
            'Bearer error="insufficient_scope", scope="write read"'
        )
        assert denied.json()["detail"] == "Not enough permissions: the scope 'write' is required"
        assert client.get("/write", headers={"Authorization": "Bearer writer"}).text == "writer"
        # Through plain Depends there are no required scopes: any known token passes.
        assert client.get("/plain", headers={"Authorization": "Bearer nobody"}).text == "nobody"
        assert client.get("/write").status_code == 401


def test_security_scopes_object() -> None:
    scopes = SecurityScopes(["a", "b"])
    assert scopes.scope_str == "a b"
    assert repr(scopes) == "SecurityScopes(['a', 'b'])"
    scopes.check(["b", "a", "c"])
    assert SecurityScopes().scopes == []


def test_nested_security_merges_scopes_and_shares_one_call() -> None:
    calls: list[list[str]] = []

    def needs(scopes: SecurityScopes) -> list[str]:
        calls.append(scopes.scopes)
        return scopes.scopes

    def middle(found: Annotated[list[str], Security(needs, scopes=["b"])]) -> list[str]:
        return found

    outer = Security(middle, scopes=["a"])
    app = Carafe(docs=None)

    @app.get("/")
    def handler(first: list[str] = outer, second: list[str] = outer) -> list[list[str]]:
        return [first, second]

    with TestClient(app) as client:
        assert client.get("/").json() == [["a", "b"], ["a", "b"]]
    assert calls == [["a", "b"]]
    assert Security(needs, scopes=["x"]).dependency is needs  # no wrapper: the plan carries them


def test_security_wraps_generator_dependencies() -> None:
    events: list[str] = []

    def sync_resource(scopes: SecurityScopes) -> Iterator[str]:
        events.append("sync open")
        yield "sync:" + scopes.scope_str
        events.append("sync close")

    async def async_resource(scopes: SecurityScopes) -> AsyncIterator[str]:
        events.append("async open")
        try:
            yield "async:" + scopes.scope_str
        except RuntimeError:
            events.append("async saw error")
            raise
        events.append("async close")

    app = Carafe(docs=None)

    @app.get("/")
    async def ok(
        a: str = Security(sync_resource, scopes=["s"]),
        b: str = Security(async_resource, scopes=["t"]),
    ) -> list[str]:
        return [a, b]

    @app.get("/fail")
    async def fail(b: str = Security(async_resource, scopes=["t"])) -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/").json() == ["sync:s", "async:t"]
        assert events == ["sync open", "async open", "async close", "sync close"]
        events.clear()
        assert client.get("/fail").status_code == 500
        assert events == ["async open", "async saw error"]


def test_async_generator_that_swallows_the_error() -> None:
    async def forgiving(scopes: SecurityScopes) -> AsyncIterator[str]:
        try:
            yield "v"
        except ValueError:
            return

    app = Carafe(docs=None)

    @app.get("/")
    async def handler(v: str = Security(forgiving, scopes=["x"])) -> None:
        raise ValueError("handled below")

    with TestClient(app, raise_server_exceptions=False) as client:
        # The dependency swallowed the error, so nothing answers it: the app's last resort.
        assert client.get("/").status_code == 500


def test_security_leaves_plain_dependencies_shared() -> None:
    calls: list[str] = []

    def database() -> str:
        calls.append("database")
        return "db"

    def scopes_below(scopes: SecurityScopes) -> list[str]:
        return scopes.scopes

    def middle(inner: Annotated[list[str], Depends(scopes_below)]) -> list[str]:
        return inner

    def user(
        connection: Annotated[str, Depends(database)],
        first: Annotated[list[str], Depends(middle)],
        second: Annotated[list[str], Depends(middle)],
    ) -> list[str]:
        return [connection, *first, *second]

    app = Carafe(docs=None)

    @app.get("/")
    def handler(
        found: Annotated[list[str], Security(user, scopes=["x"])],
        connection: Annotated[str, Depends(database)],
    ) -> list[Any]:
        return [found, connection]

    with TestClient(app) as client:
        assert client.get("/").json() == [["db", "x", "x"], "db"]
    assert calls == ["database"]  # one call: the scoped chain did not copy it


@pytest.fixture
def example_app(example_api_state: None) -> Carafe:
    from examples import api

    return api.app


def test_the_example_apps_oauth2_flow(example_app: Carafe) -> None:
    with TestClient(example_app) as client:
        wrong = client.post("/token", data={"username": "alice", "password": "nope"})
        assert wrong.status_code == 401
        assert wrong.headers["www-authenticate"] == "Bearer"
        login = client.post("/token", data={"username": "alice", "password": "wonderland"})
        assert login.status_code == 200
        token = login.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        assert client.get("/me", headers=headers).json() == {
            "username": "alice",
            "scopes": ["items:write", "me"],
        }
        assert client.get("/me", headers={"Authorization": "Bearer forged"}).status_code == 401
        item = {"name": "teapot", "price": 30.0}
        assert client.put("/items/1", json=item).status_code == 401
        replaced = client.put("/items/1", json=item, headers=headers)
        assert replaced.json() == {"id": 1, "name": "teapot", "price": 30.0, "tags": []}
        narrow = client.post(
            "/token", data={"username": "alice", "password": "wonderland", "scope": "me"}
        ).json()["access_token"]
        denied = client.delete("/items/1", headers={"Authorization": f"Bearer {narrow}"})
        assert denied.status_code == 403
        assert client.delete("/items/1", headers=headers).status_code == 204
        assert client.get("/items/1").status_code == 404
        contact = client.post("/contact", data={"email": "a@b.c", "message": "hi"})
        assert contact.json() == {"received": True, "reply_to": "a@b.c"}
        created = client.post("/items", json={"name": "cup", "price": 3}).json()
        review = client.post("/reviews", json={"item_id": created["id"], "rating": 5})
        assert review.status_code == 201 and review.json()["rating"] == 5
        assert client.post("/reviews", json={"item_id": 10**6, "rating": 5}).status_code == 404
        assert client.get("/items", params={"q": "CU"}).json()["total"] == 1
        assert client.get("/items/search/legacy", params={"name": "cup"}).json()[0]["name"] == "cup"


def test_overriding_the_dependency_behind_security() -> None:
    app = scopes_app()

    async def fake_user(scopes: SecurityScopes) -> str:
        return "fake:" + scopes.scope_str

    app.dependency_overrides[current_user] = fake_user
    with TestClient(app) as client:
        assert client.get("/write").text == "fake:write read"
        assert client.get("/plain").text == "fake:"
    app.dependency_overrides.clear()
    with TestClient(app) as client:
        assert client.get("/write").status_code == 401
