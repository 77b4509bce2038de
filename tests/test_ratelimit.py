"""Rate limits: 429 with Retry-After and the RateLimit fields, in memory and in Redis."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest

from carafe import Carafe, Header, Router
from carafe.exceptions import ConfigurationError
from carafe.middleware import ProxyHeadersMiddleware
from carafe.ratelimit import RateLimits, rate_limit
from carafe.testing import TestClient
from tests.conftest import free_port

THREE = rate_limit("3/minute")


def api_key(x_api_key: Annotated[str, Header()] = "anonymous") -> str:
    return x_api_key


def make_app(**options: Any) -> Carafe:
    app = Carafe(extensions=[RateLimits(**options)] if options else ())

    @app.get("/limited", dependencies=[THREE])
    async def limited() -> str:
        return "ok"

    @app.get("/free")
    async def free() -> str:
        return "free"

    return app


def test_over_the_limit_is_a_429_with_retry_after() -> None:
    with TestClient(make_app()) as client:
        answers = [client.get("/limited") for _ in range(4)]
        assert [r.status_code for r in answers] == [200, 200, 200, 429]
        assert [r.headers["ratelimit-remaining"] for r in answers[:3]] == ["2", "1", "0"]
        first, refused = answers[0], answers[3]
        assert first.headers["ratelimit-limit"] == "3"
        assert first.headers["ratelimit-policy"] == "3;w=60"
        assert 0 < int(first.headers["ratelimit-reset"]) <= 60
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.headers["content-type"] == "application/problem+json"
        assert "at most 3/minute" in refused.json()["detail"]
        assert client.get("/free").status_code == 200  # other routes are not limited


def test_a_key_dependency_gives_each_caller_a_budget() -> None:
    app = Carafe()
    api = Router(prefix="/api", dependencies=[rate_limit("2/minute", key=api_key)])

    @api.get("/items")
    async def items() -> list[int]:
        return [1]

    app.include(api)
    with TestClient(app) as client:
        alice = [
            client.get("/api/items", headers={"x-api-key": "alice"}).status_code for _ in range(3)
        ]
        bob = client.get("/api/items", headers={"x-api-key": "bob"}).status_code
    assert alice == [200, 200, 429]
    assert bob == 200


def test_two_apps_count_separately_in_memory() -> None:
    with TestClient(make_app()) as one, TestClient(make_app()) as two:
        for _ in range(3):
            one.get("/limited")
        assert one.get("/limited").status_code == 429
        assert two.get("/limited").status_code == 200


def test_workers_share_one_budget_in_redis(redis_url: str) -> None:
    """Two apps on one Redis stand for two workers: the budget is counted once."""
    options = {"storage": redis_url, "key_prefix": f"test-{free_port()}"}
    with TestClient(make_app(**options)) as one, TestClient(make_app(**options)) as two:
        codes = [one.get("/limited").status_code, two.get("/limited").status_code]
        codes += [one.get("/limited").status_code, two.get("/limited").status_code]
    assert codes == [200, 200, 200, 429]


def test_redis_unreachable_fails_open_or_closed(caplog: pytest.LogCaptureFixture) -> None:
    down = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    with caplog.at_level(logging.WARNING, "carafe.ratelimit"):
        with TestClient(make_app(storage=down)) as client:
            assert [client.get("/limited").status_code for _ in range(5)] == [200] * 5
    assert "unreachable" in caplog.text
    assert caplog.text.count("unreachable") == 1  # logged once a minute, not per request
    with TestClient(make_app(storage=down, fail="closed")) as client:
        response = client.get("/limited")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert "Traceback" not in response.text


def test_the_limit_is_in_the_openapi_document() -> None:
    with TestClient(make_app()) as client:
        paths = client.get("/openapi.json").json()["paths"]
    assert "3/minute" in paths["/limited"]["get"]["responses"]["429"]["description"]
    assert "429" not in paths["/free"]["get"]["responses"]


def test_mistakes_are_startup_errors() -> None:
    with pytest.raises(ConfigurationError, match="Not a rate"):
        rate_limit("often")
    with pytest.raises(ConfigurationError, match="open"):
        RateLimits(fail="maybe")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="strategy"):
        RateLimits(strategy="random")  # type: ignore[arg-type]


@pytest.mark.parametrize("strategy", ["fixed-window", "sliding-window"])
def test_other_strategies(strategy: str) -> None:
    with TestClient(make_app(strategy=strategy)) as client:
        codes = [client.get("/limited").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def proxied_app(trusted: str) -> Carafe:
    app = Carafe(docs=None, dependencies=[rate_limit("2/minute")])
    app.add_middleware(ProxyHeadersMiddleware, trusted=[trusted])

    @app.get("/a")
    async def a() -> str:
        return "a"

    @app.get("/b")
    async def b() -> str:
        return "b"

    return app


def test_an_app_wide_limit_counts_each_client_behind_a_trusted_proxy() -> None:
    """On the app, a limit covers every route with one budget per client; behind
    ``ProxyHeadersMiddleware`` the client is the one the proxy names, and a peer that
    is not the proxy cannot buy a new budget with its own ``X-Forwarded-For``."""

    def codes(client: TestClient, sent_for: str) -> list[int]:
        headers = {"x-forwarded-for": sent_for}
        return [client.get(path, headers=headers).status_code for path in ("/a", "/b", "/a")]

    with TestClient(proxied_app("127.0.0.1")) as client:  # the test client's own address
        assert codes(client, "203.0.113.1") == [200, 200, 429]  # one budget for both routes
        assert codes(client, "203.0.113.2") == [200, 200, 429]  # another client's own
    with TestClient(proxied_app("10.0.0.1")) as stranger:  # 127.0.0.1 is not the proxy
        assert codes(stranger, "203.0.113.3") == [200, 200, 429]
        assert codes(stranger, "203.0.113.4") == [429, 429, 429]  # the header is ignored
