"""Sessions: signed cookies, memory and Redis stores, rotation, expiry, hostile cookies."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Annotated, Any

import pytest
from itsdangerous import URLSafeTimedSerializer

from carafe import Carafe, Depends, HTTPError, Request
from carafe.exceptions import ConfigurationError
from carafe.testing import TestClient
from carafe.web.sessions import (
    MemoryStore,
    RedisStore,
    Session,
    Sessions,
    get_session,
    new_session_id,
)
from carafe.web.templating import Templates


def make_app(**options: Any) -> Carafe:
    app = Carafe(secret_key=options.pop("secret_key", "test-secret"))
    if options:
        Sessions(app, **options)

    @app.get("/count")
    async def count(session: Session) -> dict[str, Any]:
        session["n"] = session.get("n", 0) + 1
        return {"n": session["n"], "new": session.new}

    @app.get("/peek")
    async def peek(session: Session) -> dict[str, Any]:
        return dict(session)

    @app.get("/plain")
    async def plain() -> dict[str, str]:
        return {"ok": "yes"}

    @app.post("/login")
    async def login(session: Session) -> dict[str, Any]:
        session["user"] = "ann"
        session.regenerate()
        return {"user": session["user"]}

    @app.post("/logout")
    async def logout(session: Session) -> dict[str, bool]:
        session.clear()
        return {"ok": True}

    @app.get("/fail")
    async def fail(session: Session) -> None:
        session["tried"] = True
        raise HTTPError(409, "No.")

    return app


def put_cookie(client: TestClient, value: str) -> None:
    """Replace the session cookie (the jar would otherwise keep both)."""
    client.cookies.clear()
    client.cookies.set("session", value, domain="testserver.local")


def cookie_header(response: Any) -> str:
    return str(response.headers.get("set-cookie", ""))


# --- Signed cookie sessions --------------------------------------------------------------


def test_cookie_session_round_trip_with_safe_flags() -> None:
    with TestClient(make_app()) as client:
        first = client.get("/count")
        assert first.json() == {"n": 1, "new": True}
        header = cookie_header(first)
        assert header.startswith("session=")
        for flag in ("HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="):
            assert flag in header
        assert "Secure" not in header
        assert first.headers["vary"] == "Cookie"
        assert client.get("/count").json() == {"n": 2, "new": False}
        assert client.get("/count").json() == {"n": 3, "new": False}


def test_reading_only_sends_vary_but_no_cookie() -> None:
    with TestClient(make_app()) as client:
        client.get("/count")
        response = client.get("/peek")
        assert response.json() == {"n": 1}
        assert response.headers["vary"] == "Cookie"
        assert "set-cookie" not in response.headers


def test_routes_without_session_are_untouched() -> None:
    with TestClient(make_app()) as client:
        client.get("/count")
        response = client.get("/plain")
        assert "vary" not in response.headers
        assert "set-cookie" not in response.headers


def test_secure_and_other_cookie_options() -> None:
    app = make_app(
        secure=True, same_site="strict", cookie_name="sid", domain="example.com", path="/"
    )
    with TestClient(app, base_url="https://example.com") as client:
        header = cookie_header(client.get("/count"))
        assert header.startswith("sid=")
        for flag in ("Secure", "SameSite=Strict", "Domain=example.com"):
            assert flag in header


def test_session_saved_and_varied_on_error_responses() -> None:
    with TestClient(make_app()) as client:
        response = client.get("/fail")
        assert response.status_code == 409
        assert response.headers["vary"] == "Cookie"
        assert client.get("/peek").json() == {"tried": True}


def test_clear_deletes_the_cookie() -> None:
    with TestClient(make_app()) as client:
        client.get("/count")
        response = client.post("/logout")
        assert "Max-Age=0" in cookie_header(response)
        assert client.get("/peek").json() == {}


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "eyJkIjp7fX0.tampered.signature",
        "a" * 5000,
        "\u00e9t\u00e9; =;;",
        '"quoted"',
        "..",
        "%00%ff%fe",
    ],
)
def test_tampered_or_odd_cookies_give_an_empty_session(value: str) -> None:
    with TestClient(make_app()) as client:
        raw = b"session=" + value.encode("utf-8")
        response = client.get("/peek", headers={"cookie": raw})  # type: ignore[dict-item]
        assert response.status_code == 200
        assert response.json() == {}


def test_a_modified_payload_does_not_verify() -> None:
    with TestClient(make_app()) as client:
        client.get("/count")
        value = client.cookies["session"]
        payload, stamp, signature = value.split(".")
        forged = URLSafeTimedSerializer("wrong-key", salt="carafe.session").dumps(
            {"d": {"n": 99, "admin": True}, "c": time.time()}
        )
        for bad in (forged, f"{payload}A.{stamp}.{signature}", f"{payload}.{stamp}.{signature}x"):
            put_cookie(client, bad)
            assert client.get("/peek").json() == {}


def test_thousands_of_cookies_are_survived() -> None:
    app = make_app()
    cookies = "; ".join(f"c{i}=v{i}" for i in range(2000))
    with TestClient(app) as client:
        response = client.get("/peek", headers={"cookie": cookies})
        assert response.status_code == 200
        assert response.json() == {}


def test_a_signed_payload_of_the_wrong_shape_is_ignored() -> None:
    app = make_app()
    signer = URLSafeTimedSerializer("test-secret", salt="carafe.session")
    with TestClient(app) as client:
        for payload in ([1, 2], {"d": [1]}, {"d": {}, "c": "yesterday"}, "text"):
            put_cookie(client, signer.dumps(payload))
            assert client.get("/peek").json() == {}


def test_key_rotation_old_keys_verify_newest_signs() -> None:
    old_app = make_app(secret_key="old-key")
    rotated = make_app(secret_key=["new-key", "old-key"])
    new_only = make_app(secret_key="new-key")
    with TestClient(old_app) as client:
        client.get("/count")
        old_cookie = client.cookies["session"]
    with TestClient(rotated) as client:
        put_cookie(client, old_cookie)
        assert client.get("/count").json() == {"n": 2, "new": False}
        new_cookie = client.cookies["session"]
    with TestClient(new_only) as client:
        put_cookie(client, new_cookie)
        assert client.get("/peek").json() == {"n": 2}
        put_cookie(client, old_cookie)
        assert client.get("/peek").json() == {}


class Clock:
    """Moves ``time.time`` forward for the code under test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)


def get_with(client: TestClient, path: str, value: str) -> Any:
    """GET with exactly this session cookie (the client's jar would drop an expired one)."""
    client.cookies.clear()
    return client.get(path, headers={"cookie": f"session={value}"})


def new_cookie(response: Any, old: str) -> str:
    header = cookie_header(response)
    return header.split(";", 1)[0].split("=", 1)[1] if header else old


def test_cookie_session_idle_and_absolute_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    app = make_app(idle_timeout=100, absolute_timeout=1000)
    with TestClient(app) as client:
        value = new_cookie(client.get("/count"), "")
        clock.offset = 80  # alive, and re-signed: older than the refresh step
        response = get_with(client, "/peek", value)
        assert response.json() == {"n": 1}
        value = new_cookie(response, value)
        clock.offset = 160  # 80 s after the refresh: alive
        assert get_with(client, "/peek", value).json() == {"n": 1}
        clock.offset = 400  # 240 s idle: gone
        assert get_with(client, "/peek", value).json() == {}
        clock.offset = 0
        value = new_cookie(client.get("/count"), value)
        for step in range(50, 1100, 50):  # active all along, then past the absolute limit
            clock.offset = step
            response = get_with(client, "/peek", value)
            value = new_cookie(response, value)
            if step < 1000:
                assert response.json() == {"n": 1}
        assert response.json() == {}


def test_sessions_need_a_secret_or_a_store() -> None:
    app = Carafe()

    @app.get("/s")
    async def s(session: Session) -> dict[str, Any]:
        return dict(session)

    with pytest.raises(ConfigurationError, match="secret key"):
        TestClient(app).get("/s")
    with pytest.raises(ConfigurationError, match="secure"):
        Sessions(same_site="none")
    with pytest.raises(ConfigurationError, match="positive"):
        Sessions(idle_timeout=0)
    with pytest.raises(ConfigurationError, match="url or a client"):
        RedisStore()


async def current_user(session: Session) -> str | None:
    user: str | None = session.get("user")
    return user


def test_session_shared_by_dependencies_and_request_helpers() -> None:
    app = Carafe(secret_key="k")

    @app.before_request
    async def load(request: Request) -> None:
        session = await get_session(request)
        session.setdefault("seen", 0)

    @app.get("/me")
    async def me(
        session: Session, user: Annotated[str | None, Depends(current_user)]
    ) -> dict[str, Any]:
        session["user"] = "bob"
        return {"user": user, "seen": session["seen"]}

    with TestClient(app) as client:
        assert client.get("/me").json() == {"user": None, "seen": 0}
        assert client.get("/me").json() == {"user": "bob", "seen": 0}
        assert client.head("/me").headers["vary"] == "Cookie"


def test_session_tracks_every_kind_of_change() -> None:
    session = Session({"a": 1, "b": 2})
    assert not session.modified
    session.setdefault("a", 5)
    session.pop("missing", None)
    assert not session.modified
    for change in (
        lambda s: s.__setitem__("c", 3),
        lambda s: s.__delitem__("a"),
        lambda s: s.pop("b"),
        lambda s: s.popitem(),
        lambda s: s.setdefault("z", 0),
        lambda s: s.update(x=1),
        lambda s: s.__ior__({"y": 2}),
        lambda s: s.clear(),
    ):
        session.modified = False
        change(session)
        assert session.modified
    assert repr(Session({"k": 1})) == "<Session {'k': 1}>"
    assert not hasattr(Session(), "__dict__")  # per-request objects are slotted


# --- Server-side stores ------------------------------------------------------------------


def test_memory_store_keeps_only_an_id_in_the_cookie() -> None:
    store = MemoryStore()
    app = make_app(store=store)
    with TestClient(app) as client:
        client.get("/count")
        sid = client.cookies["session"]
        assert len(sid) == len(new_session_id())
        assert client.get("/count").json() == {"n": 2, "new": False}
        assert len(store) == 1


def test_login_rotates_the_session_id() -> None:
    store = MemoryStore()
    with TestClient(make_app(store=store)) as client:
        client.get("/count")
        planted = client.cookies["session"]
        client.post("/login")
        new_id = client.cookies["session"]
        assert new_id != planted
        assert client.get("/peek").json() == {"n": 1, "user": "ann"}
        put_cookie(client, planted)
        assert client.get("/peek").json() == {}  # the fixated id is dead
        assert len(store) == 1


def test_unknown_ids_are_never_adopted() -> None:
    with TestClient(make_app(store=MemoryStore())) as client:
        chosen = new_session_id()
        put_cookie(client, chosen)
        assert client.get("/count").json() == {"n": 1, "new": True}
        assert client.cookies["session"] != chosen
        put_cookie(client, "../../etc/passwd")
        assert client.get("/peek").json() == {}


def test_memory_store_expiry_and_bounds() -> None:
    async def scenario() -> None:
        store = MemoryStore(max_sessions=3)
        await store.save("gone", b"{}", 0)
        assert await store.load("gone", 10) is None
        for name in ("a", "b", "c", "d"):
            await store.save(name, b"{}", 60)
        assert len(store) == 3
        assert await store.load("a", 60) is None  # the oldest went first
        assert await store.load("d", 60) == b"{}"
        await store.delete("d")
        assert await store.load("d", 60) is None

    asyncio.run(scenario())


def test_a_corrupt_stored_record_is_dropped() -> None:
    store = MemoryStore()
    with TestClient(make_app(store=store)) as client:
        client.get("/count")
        sid = client.cookies["session"]
        asyncio.run(store.save(sid, b"not json", 60))
        assert client.get("/peek").json() == {}
        assert len(store) == 0


def test_server_side_absolute_expiry(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock(monkeypatch)
    store = MemoryStore()
    with TestClient(make_app(store=store, absolute_timeout=50)) as client:
        client.get("/count")
        sid = client.cookies["session"]
        clock.offset = 40
        assert get_with(client, "/peek", sid).json() == {"n": 1}
        clock.offset = 60
        assert get_with(client, "/peek", sid).json() == {}
        assert len(store) == 0


def test_clearing_a_server_side_session_deletes_it() -> None:
    store = MemoryStore()
    with TestClient(make_app(store=store)) as client:
        client.get("/count")
        assert "Max-Age=0" in cookie_header(client.post("/logout"))
        assert len(store) == 0


@pytest.mark.slow
def test_redis_store(redis_url: str) -> None:
    from redis import Redis

    store = RedisStore(redis_url, prefix="test:sess:")
    app = make_app(store=store, idle_timeout=300)
    app.on_shutdown(store.close)
    direct = Redis.from_url(redis_url)
    with TestClient(app) as client:
        assert client.get("/count").json() == {"n": 1, "new": True}
        sid = client.cookies["session"]
        assert direct.exists(f"test:sess:{sid}")
        assert 0 < direct.ttl(f"test:sess:{sid}") <= 300
        assert client.get("/count").json() == {"n": 2, "new": False}
        client.post("/login")
        new_id = client.cookies["session"]
        assert not direct.exists(f"test:sess:{sid}")
        assert direct.exists(f"test:sess:{new_id}")
        client.post("/logout")
        assert not direct.exists(f"test:sess:{new_id}")
    # A second client (a second event loop) gets its own connection pool.
    with TestClient(app) as client:
        assert client.get("/count").json()["n"] == 1
    direct.close()


@pytest.mark.slow
def test_anonymous_visits_to_a_form_store_no_sessions_in_redis(redis_url: str) -> None:
    from jinja2 import DictLoader
    from redis import Redis

    store = RedisStore(redis_url, prefix="test:anon:")
    app = Carafe(secret_key="k", csrf=True)
    Sessions(app, store=store)
    app.on_shutdown(store.close)
    form = '<p>{{ who }}</p><input name=csrf_token value="{{ csrf_token() }}">'
    templates = Templates(loader=DictLoader({"login.html": form}))

    @app.get("/login")
    async def login_page(request: Request, session: Session) -> Any:
        return await templates.render(request, "login.html", who=session.get("user", "guest"))

    @app.post("/login")
    async def login(session: Session) -> dict[str, str]:
        session.regenerate()
        session["user"] = "ann"
        return {"user": "ann"}

    direct = Redis.from_url(redis_url)
    with TestClient(app) as client:
        for _ in range(300):
            client.cookies.clear()
            page = client.get("/login")
        assert len(list(direct.scan_iter("test:anon:*"))) == 0
        assert "session" not in client.cookies
        token = re.search(r"value=\"([^\"]+)\"", page.text).group(1)  # type: ignore[union-attr]
        assert client.post("/login", data={"csrf_token": token}).json() == {"user": "ann"}
        assert len(list(direct.scan_iter("test:anon:*"))) == 1  # now there is something to keep
        assert client.get("/login").text.startswith("<p>ann</p>")
    direct.close()


@pytest.mark.slow
def test_redis_store_with_a_given_client(redis_url: str) -> None:
    from redis.asyncio import Redis

    async def scenario() -> None:
        client = Redis.from_url(redis_url)
        store = RedisStore(client=client, prefix="test:given:")
        await store.save("abc", b"{}", 30)
        assert await store.load("abc", 30) == b"{}"
        await store.delete("abc")
        assert await store.load("abc", 30) is None
        await store.close()

    asyncio.run(scenario())


def test_redis_down_is_a_503_not_a_500(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Saving (the first visit) and loading (a logged-in visitor) both answer 503."""
    from tests.conftest import free_port

    store = RedisStore(redis_url)
    app = make_app(store=store)
    app.on_shutdown(store.close)
    with TestClient(app) as client:
        assert client.get("/count").json() == {"n": 1, "new": True}  # Redis is up
        sid = client.cookies["session"]
    down = make_app(store=RedisStore(f"redis://127.0.0.1:{free_port()}/0"))
    with TestClient(down, raise_server_exceptions=False) as client:
        assert client.get("/plain").status_code == 200  # no session, no Redis
        saving = client.get("/count")  # a new session: loading needs no Redis, saving does
        client.cookies.set("session", sid)
        loading = client.get("/peek")
        assert client.get("/plain").status_code == 200  # the server goes on serving
    for response in (saving, loading):
        assert response.status_code == 503
        assert response.headers["retry-after"] == "5"
        assert response.json()["detail"] == "Sessions are unavailable right now; try again shortly."
        assert "set-cookie" not in response.headers  # nothing half-saved is promised
    assert "Traceback" not in caplog.text
    assert "Session store unreachable" in caplog.text
