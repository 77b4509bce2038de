"""ResponseCache: per-route caching that never hands one visitor's answer to another."""

from __future__ import annotations

import logging
from typing import Annotated, Any

import pytest

from carafe import Carafe, Header, Request, Response, Session
from carafe.caching import MemoryCache, RedisCache, ResponseCache, cache
from carafe.exceptions import ConfigurationError
from carafe.middleware import ETagMiddleware, GZipMiddleware
from carafe.testing import TestClient
from tests.conftest import free_port


def make_app(store: Any = None) -> tuple[Carafe, list[str]]:
    calls: list[str] = []
    app = Carafe(docs=None, secret_key="s")
    app.add_middleware(ResponseCache, store=store)

    @app.get("/catalogue", dependencies=[cache(60, vary=["accept-language"])])
    async def catalogue(
        page: int = 1, accept_language: Annotated[str, Header()] = "en"
    ) -> dict[str, Any]:
        calls.append(f"catalogue {page} {accept_language}")
        return {"page": page, "lang": accept_language, "n": len(calls)}

    @app.get("/cookie", dependencies=[cache(60)])
    async def sets_cookie() -> Response:
        calls.append("cookie")
        response = Response(b"hi")
        response.set_cookie("seen", "1")
        return response

    @app.get("/session", dependencies=[cache(60)])
    async def reads_session(session: Session) -> dict[str, Any]:
        calls.append("session")
        return {"user": session.get("user")}

    @app.get("/missing", dependencies=[cache(60)])
    async def missing() -> Response:
        calls.append("missing")
        return Response(b"no", 404)

    @app.get("/uncached")
    async def uncached() -> int:
        calls.append("uncached")
        return len(calls)

    return app, calls


def test_a_hit_skips_the_handler_and_says_its_age() -> None:
    app, calls = make_app()
    with TestClient(app) as client:
        first = client.get("/catalogue?page=2")
        second = client.get("/catalogue?page=2")
        assert first.json() == second.json() == {"page": 2, "lang": "en", "n": 1}
        assert "age" not in first.headers and second.headers["age"] == "0"
        head = client.head("/catalogue?page=2")
        assert head.status_code == 200 and head.content == b""
        assert client.get("/catalogue?page=3").json()["n"] == 2  # another query
        french = client.get("/catalogue?page=2", headers={"accept-language": "fr"})
        assert french.json()["lang"] == "fr"  # a declared Vary header is part of the key
        client.get("/uncached")
        client.get("/uncached")
    assert calls == ["catalogue 2 en", "catalogue 3 en", "catalogue 2 fr", "uncached", "uncached"]


def test_nothing_personal_is_cached() -> None:
    app, calls = make_app()
    with TestClient(app) as client:
        for _ in range(2):
            client.get("/cookie")  # sets a cookie: not stored
            client.get("/session")  # read the session (Vary: Cookie): not stored
            client.get("/missing")  # not a 200: not stored
        client.cookies.clear()
        client.get("/catalogue")
        assert client.get("/catalogue").json()["n"] == 7  # served from the cache
        assert client.get("/catalogue", headers={"authorization": "Bearer x"}).json()["n"] == 8
        assert client.get("/catalogue", headers={"cookie": "a=b"}).json()["n"] == 9
    assert calls.count("cookie") == calls.count("session") == calls.count("missing") == 2


def test_workers_share_a_redis_cache(redis_url: str) -> None:
    store = RedisCache(redis_url, prefix=f"test-{free_port()}:")
    one, calls_one = make_app(store)
    two, calls_two = make_app(store)
    one.on_shutdown(store.close)
    two.on_shutdown(store.close)
    with TestClient(one) as first:
        assert first.get("/catalogue").json()["n"] == 1
    with TestClient(two) as second:
        assert second.get("/catalogue").json()["n"] == 1  # served from Redis
    assert (len(calls_one), len(calls_two)) == (1, 0)


def test_redis_down_answers_without_the_cache(caplog: pytest.LogCaptureFixture) -> None:
    app, calls = make_app(RedisCache(f"redis://127.0.0.1:{free_port()}/0"))
    with caplog.at_level(logging.WARNING, "carafe.caching"):
        with TestClient(app) as client:
            assert [client.get("/catalogue").status_code for _ in range(3)] == [200] * 3
    assert len(calls) == 3
    assert caplog.text.count("unreachable") == 1


def test_memory_cache_expires_and_stays_bounded() -> None:
    import asyncio

    store = MemoryCache(max_entries=2)

    async def run() -> list[bytes | None]:
        await store.set("a", b"1", 60)
        await store.set("b", b"2", 60)
        await store.set("c", b"3", 60)  # "a" is the least recently used: dropped
        await store.set("d", b"4", 0.000001)
        await asyncio.sleep(0.01)
        return [await store.get(k) for k in ("a", "b", "c", "d")]

    assert asyncio.run(run()) == [None, None, b"3", None]
    with pytest.raises(ConfigurationError, match="positive"):
        cache(0)


def test_each_host_and_scheme_has_its_own_entries() -> None:
    """An answer that names its host (a link, a tenant's data) is never served to
    another host: the key holds the scheme and the ``Host`` header."""
    app = Carafe(docs=None)
    app.add_middleware(ResponseCache)

    @app.get("/home", dependencies=[cache(60)])
    async def home(request: Request) -> dict[str, str]:
        return {"self": str(request.url)}

    with TestClient(app) as client:
        for url in ("http://a.example/home", "http://b.example/home", "https://a.example/home"):
            for _ in range(2):
                assert client.get(url).json() == {"self": url}


def test_an_answer_that_varies_by_a_header_the_key_lacks_is_not_stored() -> None:
    """GZip inside the cache: the gzipped answer says ``Vary: Accept-Encoding``, which
    the route did not declare, so it is not stored for a client that cannot read it."""
    app = Carafe(docs=None)
    app.add_middleware(GZipMiddleware, minimum_size=10)
    app.add_middleware(ResponseCache)  # added last: outermost, it sees the gzipped bytes
    calls: list[str] = []

    @app.get("/report", dependencies=[cache(60)])
    async def report() -> dict[str, str]:
        calls.append("report")
        return {"text": "x" * 200}

    @app.get("/declared", dependencies=[cache(60, vary=["accept-encoding"])])
    async def declared() -> dict[str, str]:
        calls.append("declared")
        return {"text": "y" * 200}

    with TestClient(app) as client:
        zipped = client.get("/report", headers={"accept-encoding": "gzip"})
        plain = client.get("/report", headers={"accept-encoding": "identity"})
        assert zipped.headers["content-encoding"] == "gzip"
        assert "content-encoding" not in plain.headers
        assert plain.json() == {"text": "x" * 200}
        for encoding in ("gzip", "identity", "gzip", "identity"):  # declared: one each
            answer = client.get("/declared", headers={"accept-encoding": encoding})
            assert answer.json() == {"text": "y" * 200}
    assert calls == ["report", "report", "declared", "declared"]


def test_gzip_outside_the_cache_compresses_each_hit() -> None:
    app = Carafe(docs=None)
    app.add_middleware(ResponseCache)
    app.add_middleware(GZipMiddleware, minimum_size=10)  # added last: outermost

    @app.get("/report", dependencies=[cache(60)])
    async def report() -> dict[str, str]:
        return {"text": "x" * 200}

    with TestClient(app) as client:
        client.get("/report")
        zipped = client.get("/report", headers={"accept-encoding": "gzip"})
        plain = client.get("/report", headers={"accept-encoding": "identity"})
    assert zipped.headers["content-encoding"] == "gzip" and "age" in zipped.headers
    assert "content-encoding" not in plain.headers and "age" in plain.headers
    assert zipped.json() == plain.json() == {"text": "x" * 200}


@pytest.mark.parametrize("inside", [True, False])
def test_a_hit_answers_if_none_match_with_a_304(inside: bool) -> None:
    """ETagMiddleware inside the cache tags the stored answer; a hit whose
    ``If-None-Match`` matches is a bare 304, as it is with ETagMiddleware outside."""
    app = Carafe(docs=None)
    calls: list[int] = []
    if inside:
        app.add_middleware(ETagMiddleware)
    app.add_middleware(ResponseCache)
    if not inside:
        app.add_middleware(ETagMiddleware)

    @app.get("/catalogue", dependencies=[cache(60)])
    async def catalogue() -> list[str]:
        calls.append(1)
        return ["pen", "ink"]

    with TestClient(app) as client:
        tag = client.get("/catalogue").headers["etag"]
        again = client.get("/catalogue", headers={"if-none-match": tag})
        other = client.get("/catalogue", headers={"if-none-match": 'W/"other"'})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
    assert other.status_code == 200 and other.json() == ["pen", "ink"]
    assert "age" in other.headers and len(calls) == 1
