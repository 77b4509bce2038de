"""Sessions: per-visitor data kept across requests, injected by annotation like ``Request``.

A ``secret_key`` on the app is enough to get signed-cookie sessions::

    app = Carafe(secret_key="change me")

    @app.get("/visits")
    async def visits(session: Session) -> dict:
        session["visits"] = session.get("visits", 0) + 1
        return {"visits": session["visits"]}

For server-side sessions, pick a store (``Sessions(app, store=RedisStore(url))``)::

    Session             a dict that knows it was changed; regenerate() at login
    Sessions            one app's settings: the store, cookie flags, idle/absolute expiry
    SessionStore        where server-side sessions live (a protocol):
     ├── MemoryStore    this process only (development, one worker)
     └── RedisStore     shared by every worker and machine (redis.asyncio)

The session is loaded only when a handler, dependency or template asks for it, and saved
just before the response head is sent, if it changed. A response that read the session
carries ``Vary: Cookie``. A tampered, expired, unknown, oversized or malformed cookie is
an empty session, never an error.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib.util
import logging
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import msgspec

from carafe.context import Slot, context_of
from carafe.exceptions import ConfigurationError, HTTPError

if TYPE_CHECKING:
    import asyncio

    from redis.asyncio import Redis

    from carafe.app import Carafe
    from carafe.extensions import Registry
    from carafe.requests import Request
    from carafe.types import Message

__all__ = [
    "MemoryStore",
    "RedisStore",
    "Session",
    "SessionStore",
    "Sessions",
    "SessionsExtension",
    "get_session",
]

logger = logging.getLogger("carafe.sessions")
_SESSION: Slot[Session] = Slot("session")
_EXTENSION = "sessions"
_MAX_COOKIE = 4096  # browsers keep at most ~4 KiB per cookie; longer is not ours
_SID_BYTES = 32
_SID_LENGTH = len(base64.urlsafe_b64encode(b"\0" * _SID_BYTES).rstrip(b"="))
_SID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
# Keys Carafe itself keeps in the session; regenerate() renews the CSRF token.
CSRF_SESSION_KEY = "_csrf"

_encode = msgspec.json.encode
_decode = msgspec.json.decode


def new_session_id() -> str:
    """A fresh unguessable session id: 256 random bits, URL-safe base64."""
    return base64.urlsafe_b64encode(os.urandom(_SID_BYTES)).rstrip(b"=").decode("ascii")


def _looks_like_sid(value: str) -> bool:
    return len(value) == _SID_LENGTH and _SID_CHARS.issuperset(value)


class Session(dict[str, Any]):
    """The current visitor's session: a ``dict`` that remembers being changed.

    Changing it (``session["user"] = 1``, ``del``, ``pop``, ``update``, ``clear``...)
    marks it ``modified`` and it is saved with the response. A change deep inside a
    value (``session["cart"].append(x)``) is not seen: set ``session.modified = True``.

    Attributes:
        id: The server-side session id (None for a cookie session or a new one).
        created: When the session began (seconds since the epoch).
        modified: Whether it will be saved with this response.
        new: True when the visitor brought no valid session.
    """

    __slots__ = ("_previous_id", "_refresh", "created", "id", "modified", "new")

    def __init__(
        self,
        data: Mapping[str, Any] | None = None,
        *,
        id: str | None = None,
        created: float | None = None,
        new: bool = True,
    ) -> None:
        super().__init__(data or {})
        self.id = id
        self.new = new
        self.created = time.time() if created is None else created
        self.modified = False
        self._previous_id: str | None = None
        self._refresh = False

    def regenerate(self) -> None:
        """Give the session a new id and CSRF token, keeping its data.

        Call it when the visitor logs in (or gains rights): an id an attacker planted
        before the login is worthless after it (no session fixation).
        """
        if self.id is not None:
            self._previous_id = self.id
        self.id = None
        self.created = time.time()
        super().pop(CSRF_SESSION_KEY, None)
        self.modified = True

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.modified = True

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.modified = True

    def clear(self) -> None:
        """Empty the session; with the response, its cookie (and stored copy) goes."""
        super().clear()
        self.modified = True

    def pop(self, key: str, *default: Any) -> Any:
        had = key in self
        value = super().pop(key, *default)
        self.modified = self.modified or had
        return value

    def popitem(self) -> tuple[str, Any]:
        item = super().popitem()
        self.modified = True
        return item

    def setdefault(self, key: str, default: Any = None) -> Any:
        if key not in self:
            self.modified = True
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        super().update(*args, **kwargs)
        self.modified = True

    def __ior__(self, other: Any) -> Session:  # type: ignore[override,misc]
        self.update(other)
        return self

    def __repr__(self) -> str:
        return f"<Session {dict.__repr__(self)}>"


class SessionStore(Protocol):
    """Where server-side sessions live. Records are bytes; ``ttl`` is in seconds."""

    async def load(self, sid: str, ttl: int) -> bytes | None:
        """The record for ``sid`` (its idle timer restarted), or None."""

    async def save(self, sid: str, record: bytes, ttl: int) -> None:
        """Store ``record`` under ``sid`` for ``ttl`` seconds of idleness."""

    async def delete(self, sid: str) -> None:
        """Forget ``sid``."""


class MemoryStore:
    """Sessions in this process's memory: for development and single-worker apps.

    Args:
        max_sessions: Past this many live sessions, the oldest are dropped first.
    """

    def __init__(self, max_sessions: int = 100_000) -> None:
        self.max_sessions = max_sessions
        self._records: dict[str, tuple[bytes, float]] = {}

    async def load(self, sid: str, ttl: int) -> bytes | None:
        entry = self._records.get(sid)
        if entry is None:
            return None
        now = time.monotonic()
        if entry[1] <= now:
            del self._records[sid]
            return None
        self._records[sid] = (entry[0], now + ttl)
        return entry[0]

    async def save(self, sid: str, record: bytes, ttl: int) -> None:
        records = self._records
        records.pop(sid, None)
        if len(records) >= self.max_sessions:
            self._sweep()
        records[sid] = (record, time.monotonic() + ttl)

    async def delete(self, sid: str) -> None:
        self._records.pop(sid, None)

    def _sweep(self) -> None:
        now = time.monotonic()
        records = self._records
        for sid in [sid for sid, (_, expires) in records.items() if expires <= now]:
            del records[sid]
        while len(records) >= self.max_sessions:  # dicts keep insertion order: oldest first
            del records[next(iter(records))]

    def __len__(self) -> int:
        return len(self._records)


class RedisStore:
    """Sessions in Redis, shared by every worker and machine; the idle timeout is a TTL.

    Args:
        url: A ``redis://`` URL; the client is made on first use (redis is imported then).
            Without the redis package installed this raises ``ConfigurationError``.
        client: An existing ``redis.asyncio.Redis`` to use instead of ``url``.
        prefix: Put before every key: ``carafe:session:<id>``.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        client: Redis | None = None,
        prefix: str = "carafe:session:",
    ) -> None:
        if (url is None) == (client is None):
            raise ConfigurationError("RedisStore needs a url or a client (one of them)")
        if client is None and importlib.util.find_spec("redis") is None:
            # NOTE: here, at startup, rather than as a 500 on the first request.
            raise ConfigurationError("RedisStore needs redis: pip install 'carafe[redis]'")
        self.url = url
        self.prefix = prefix
        self._client = client
        self._loop: asyncio.AbstractEventLoop | None = None

    def client(self) -> Redis:
        """The client for the running event loop (a pool is bound to one loop)."""
        import asyncio

        loop = asyncio.get_running_loop()
        if self.url is not None and (self._client is None or self._loop is not loop):
            from carafe._redis import redis_client

            # Its retry keeps a Redis restart from failing the first request on each
            # pooled connection with a 503 (tests/test_scaleout.py).
            self._client = redis_client(self.url)
            self._loop = loop
        assert self._client is not None
        return self._client

    async def load(self, sid: str, ttl: int) -> bytes | None:
        # GETEX reads and restarts the idle timer in one round trip (Redis >= 6.2).
        with _unavailable_is_503():
            record = await self.client().getex(self.prefix + sid, ex=ttl)
        return cast("bytes | None", record)

    async def save(self, sid: str, record: bytes, ttl: int) -> None:
        with _unavailable_is_503():
            await self.client().set(self.prefix + sid, record, ex=ttl)

    async def delete(self, sid: str) -> None:
        with _unavailable_is_503():
            await self.client().delete(self.prefix + sid)

    async def close(self) -> None:
        """Close the client's connections (call it at shutdown)."""
        if self._client is not None:
            await self._client.aclose()


@contextlib.contextmanager
def _unavailable_is_503() -> Iterator[None]:
    """Redis unreachable (down, restarting, a timeout) is a 503 for this request, not a
    500: the page asks the visitor to retry, and the log gets one line, no traceback."""
    from redis.exceptions import ConnectionError as Refused
    from redis.exceptions import TimeoutError as TimedOut

    try:
        yield
    except (Refused, TimedOut, OSError) as exc:
        logger.warning("Session store unreachable: %s", exc)
        raise HTTPError(
            503, "Sessions are unavailable right now; try again shortly.", {"Retry-After": "5"}
        ) from None


class Sessions:
    """One app's session settings. ``Sessions(app, ...)`` installs them.

    Without a ``store`` the whole session lives in the cookie, signed (not encrypted)
    with the app's ``secret_key``: visitors can read it but not change it. With a store,
    the cookie holds only a random id.

    Args:
        app: The app to install these settings on (or call ``init_app`` later).
        store: A ``SessionStore`` (``MemoryStore()``, ``RedisStore(url)``), or None for
            signed-cookie sessions.
        cookie_name: The session cookie's name.
        idle_timeout: Seconds without a request after which a session ends.
        absolute_timeout: Seconds after which a session ends whatever happens.
        secure: Send the cookie only over HTTPS (turn it on in production).
        same_site: The cookie's ``SameSite``: ``"lax"`` (default), ``"strict"``, ``"none"``.
        domain: The cookie's ``Domain``; None means this host only.
        path: The cookie's ``Path``.
        secret_key: Overrides the app's ``secret_key`` for signing cookies; a list
            rotates keys (the first signs, all verify).
    """

    def __init__(
        self,
        app: Carafe | None = None,
        *,
        store: SessionStore | None = None,
        cookie_name: str = "session",
        idle_timeout: int = 7 * 24 * 3600,
        absolute_timeout: int = 30 * 24 * 3600,
        secure: bool = False,
        same_site: Literal["lax", "strict", "none"] = "lax",
        domain: str | None = None,
        path: str = "/",
        secret_key: str | Sequence[str] | None = None,
    ) -> None:
        if same_site == "none" and not secure:
            raise ConfigurationError("SameSite=None session cookies must also be secure=True")
        if idle_timeout <= 0 or absolute_timeout <= 0:
            raise ConfigurationError("Session timeouts must be positive numbers of seconds")
        self.store = store
        self.cookie_name = cookie_name
        self.idle_timeout = idle_timeout
        self.absolute_timeout = absolute_timeout
        self.secret_key = secret_key
        # PERF: the cookie's attributes are formatted once, not per response.
        flags = f"; Path={path}"
        if domain:
            flags += f"; Domain={domain}"
        self._set_flags = f"{flags}; Max-Age={absolute_timeout}; HttpOnly"
        self._del_flags = f"{flags}; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly"
        tail = ("; Secure" if secure else "") + f"; SameSite={same_site.capitalize()}"
        self._set_flags += tail
        self._del_flags += tail
        self._serializer: Any = None
        # Cookie sessions are re-signed at most this often to keep the idle timer going.
        self._refresh_after = min(60, idle_timeout // 2)
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Carafe) -> None:
        """Use these settings for ``app``'s sessions."""
        if self.store is None:
            self._make_serializer(app)
        app.extensions[_EXTENSION] = self

    def _make_serializer(self, app: Carafe) -> None:
        keys = self.secret_key if self.secret_key is not None else app.secret_key
        if not keys:
            raise ConfigurationError(
                "Cookie sessions need a secret key: Carafe(secret_key=...), or give "
                "Sessions(store=...) a server-side store"
            )
        from itsdangerous import URLSafeTimedSerializer

        key_list = [keys] if isinstance(keys, str) else list(keys)
        # itsdangerous signs with the last key and verifies with all; Carafe's list
        # puts the newest key first.
        self._serializer = URLSafeTimedSerializer(
            list(reversed(key_list)),
            salt="carafe.session",
            serializer=_JSONText,
            signer_kwargs={"digest_method": hashlib.sha256},
        )

    # --- Loading --------------------------------------------------------------------

    async def load(self, request: Request) -> Session:
        """The session the request's cookie names, or a new empty one."""
        raw = request.cookies.get(self.cookie_name)
        if raw is None or len(raw) > _MAX_COOKIE:
            return Session()
        if self.store is None:
            return self._from_cookie(raw)
        return await self._from_store(raw)

    def _from_cookie(self, raw: str) -> Session:
        from itsdangerous import BadData

        try:
            payload, signed_at = self._serializer.loads(
                raw, max_age=self.idle_timeout, return_timestamp=True
            )
        except BadData:
            return Session()
        session = self._from_payload(payload)
        if session is not None and time.time() - signed_at.timestamp() >= self._refresh_after:
            session._refresh = True
        return session if session is not None else Session()

    async def _from_store(self, raw: str) -> Session:
        if not _looks_like_sid(raw):
            return Session()
        assert self.store is not None
        record = await self.store.load(raw, self.idle_timeout)
        if record is None:
            return Session()
        try:
            payload = _decode(record)
        except msgspec.DecodeError:
            payload = None
        session = self._from_payload(payload, raw)
        if session is None:
            await self.store.delete(raw)
            return Session()
        return session

    def _from_payload(self, payload: Any, sid: str | None = None) -> Session | None:
        if not isinstance(payload, dict):
            return None
        data, created = payload.get("d"), payload.get("c")
        if not isinstance(data, dict) or not isinstance(created, (int, float)):
            return None
        if time.time() - created >= self.absolute_timeout:
            return None
        return Session(data, id=sid, created=created, new=False)

    # --- Saving ---------------------------------------------------------------------

    async def commit(self, session: Session, had_cookie: bool, message: Message) -> None:
        """Save ``session`` if it changed and add its headers to the response head."""
        headers = [*message.get("headers", ()), (b"vary", b"Cookie")]
        cookie = await self._cookie_header(session, had_cookie)
        if cookie is not None:
            headers.append((b"set-cookie", cookie.encode("latin-1")))
            headers.append((b"cache-control", b"private"))
        message["headers"] = headers

    async def _cookie_header(self, session: Session, had_cookie: bool) -> str | None:
        store = self.store
        if session._previous_id is not None and store is not None:
            await store.delete(session._previous_id)
            session._previous_id = None
        if not session.modified and not session._refresh:
            return None
        if not session:
            if session.id is not None and store is not None:
                await store.delete(session.id)
            return f'{self.cookie_name}=""{self._del_flags}' if had_cookie else None
        payload = {"d": dict(session), "c": session.created}
        if store is None:
            value: str = self._serializer.dumps(payload)
        else:
            if session.id is None:
                session.id = new_session_id()
            await store.save(session.id, _encode(payload), self.idle_timeout)
            value = session.id
        session.modified = session._refresh = False
        return f"{self.cookie_name}={value}{self._set_flags}"


class _JSONText:
    """itsdangerous's serializer interface over msgspec (faster than the json module)."""

    @staticmethod
    def dumps(obj: Any) -> str:
        return _encode(obj).decode("utf-8")

    @staticmethod
    def loads(text: str | bytes) -> Any:
        return _decode(text)


def sessions_for(app: Carafe) -> Sessions:
    """``app``'s session settings; signed-cookie sessions by default."""
    sessions: Sessions | None = app.extensions.get(_EXTENSION)
    if sessions is None:
        sessions = Sessions(app)
    return sessions


async def get_session(request: Request) -> Session:
    """The request's session, loaded on first call and shared by everyone after.

    Handlers get it by annotation (``session: Session``); use this where only the
    ``Request`` is at hand (middleware, hooks).
    """
    context = context_of(request.scope)
    session = context.get(_SESSION)
    if session is None:
        sessions = sessions_for(request.app)
        session = await sessions.load(request)
        context.set(_SESSION, session)
        had_cookie = sessions.cookie_name in request.cookies
        context.on_response_start(partial(sessions.commit, session, had_cookie))
    return session


def loaded_session(request: Request) -> Session | None:
    """The session if something already loaded it in this request, else None."""
    return context_of(request.scope).get(_SESSION)


class SessionsExtension:
    """Provides ``Session`` to handlers that take one (signed-cookie sessions unless the
    app configured ``Sessions``); the session saves itself before the response head."""

    def install(self, registry: Registry) -> None:
        registry.provide(Session, get_session)
