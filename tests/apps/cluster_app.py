"""An app for the scale-out tests (``tests/cluster.py``): every Redis-backed feature at once.

    CARAFE_REDIS_URL=redis://10.77.0.254:6379/0 CARAFE_SECRET_KEY=... \\
        carafe run tests.apps.cluster_app:app --workers 2 --host 10.77.0.1

Sessions (``RedisStore``), rate limits (``RateLimits``, fail closed), the response cache
(``RedisCache``) and pub/sub (``Broker``) all live in the one Redis that
``CARAFE_REDIS_URL`` names, so any worker on any host can answer any request. Every
answer says which worker gave it (``served_by``: the address the server listens on and
the process id), so a test can see its requests cross hosts. ``/healthz`` touches no
Redis: the load balancer keeps routing to a host while Redis is down, and the app
answers 503 with ``Retry-After`` for what needs Redis.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from typing import Annotated, Any

import msgspec

from carafe import (
    Broker,
    Carafe,
    Depends,
    EventSourceResponse,
    Header,
    Request,
    ServerSentEvent,
)
from carafe.caching import RedisCache, ResponseCache, cache
from carafe.ratelimit import RateLimits, rate_limit
from carafe.web.sessions import RedisStore, Session, Sessions

REDIS = os.environ.get("CARAFE_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Carafe(
    title="Carafe cluster test app",
    docs=None,
    secret_key=os.environ.get("CARAFE_SECRET_KEY") or secrets.token_urlsafe(32),
    extensions=[RateLimits(REDIS, fail="closed", key_prefix="cluster")],
)
sessions = RedisStore(REDIS, prefix="cluster:session:")
Sessions(app, store=sessions)
response_cache = RedisCache(REDIS, prefix="cluster:cache:")
app.add_middleware(ResponseCache, store=response_cache)
broker = Broker(REDIS, app=app)


@app.on_shutdown
async def close_redis() -> None:
    await sessions.close()
    await response_cache.close()


def served_by(request: Request) -> str:
    """``10.77.0.1:8000/1234``: the address this worker listens on and its process id."""
    server = request.scope.get("server") or ("?", 0)
    return f"{server[0]}:{server[1]}/{os.getpid()}"


class Login(msgspec.Struct):
    name: str


@app.get("/healthz")
async def healthz() -> str:
    """For the load balancer's checks: no Redis, so a Redis outage keeps hosts in."""
    return "ok"


@app.get("/whoami")
async def whoami(request: Request) -> dict[str, Any]:
    client = request.client
    return {
        "served_by": served_by(request),
        "client": client.host if client else None,
        "url": str(request.url),
    }


@app.post("/login")
async def login(request: Request, session: Session, body: Login) -> dict[str, Any]:
    session.regenerate()
    session["user"] = body.name
    return {"served_by": served_by(request), "user": body.name}


@app.get("/me")
async def me(request: Request, session: Session) -> dict[str, Any]:
    session["visits"] = session.get("visits", 0) + 1
    return {
        "served_by": served_by(request),
        "user": session.get("user"),
        "visits": session["visits"],
    }


def bucket(request: Request, bucket: str = "default") -> str:
    """The rate limit's key: the client's address (as the trusted proxy saw it) and a
    bucket, so that each test counts in a budget of its own."""
    client = request.client
    return f"{client.host if client else 'unknown'}/{bucket}"


@app.get("/limited", dependencies=[rate_limit("5/minute", key=bucket, name="limited")])
async def limited(request: Request) -> dict[str, Any]:
    return {"served_by": served_by(request)}


@app.get("/news", dependencies=[cache(300)])
async def news(request: Request, edition: str = "morning") -> dict[str, Any]:
    """The same for everyone: cached, so every host answers what the first one made."""
    return {"served_by": served_by(request), "edition": edition, "made": secrets.token_hex(8)}


async def current_user(session: Session) -> str | None:
    user = session.get("user")
    return user if isinstance(user, str) else None


@app.get("/dashboard", dependencies=[cache(300)])
async def dashboard(
    request: Request, user: Annotated[str | None, Depends(current_user)]
) -> dict[str, Any]:
    """Cached, but personal: a visitor with a session cookie is never served from the
    cache, and an answer that read the session is never stored."""
    return {"served_by": served_by(request), "hello": user or "stranger"}


@app.get("/api/profile", dependencies=[cache(300)])
async def api_profile(
    request: Request, authorization: Annotated[str | None, Header()] = None
) -> dict[str, Any]:
    """Cached, but for a bearer token: a request with ``Authorization`` bypasses the cache."""
    return {"served_by": served_by(request), "token": authorization}


@app.post("/rooms/{room}")
async def publish(request: Request, room: str, message: dict[str, Any]) -> dict[str, Any]:
    sent = {**message, "from": served_by(request)}
    await broker.publish(f"room:{room}", sent)  # Redis down: BrokerUnavailable, a 503
    return {"served_by": served_by(request), "sent": sent}


@app.get("/rooms/{room}/events")
async def events(request: Request, room: str) -> EventSourceResponse:
    here = served_by(request)

    async def stream() -> AsyncIterator[ServerSentEvent]:
        async with broker.subscribe(f"room:{room}") as subscription:
            yield ServerSentEvent({"subscribed": here}, event="ready")
            async for message in subscription:
                yield ServerSentEvent(message.data, event="message")

    return EventSourceResponse(stream(), ping=5)


@app.get("/memory")
def memory(request: Request) -> dict[str, Any]:
    """This worker's resident memory in KiB, from /proc."""
    with open(f"/proc/{os.getpid()}/status") as status:
        rss = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return {"served_by": served_by(request), "rss_kib": rss}
