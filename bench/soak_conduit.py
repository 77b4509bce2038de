"""The Conduit mix for ``bench/soak.py --conduit``: visitors of the full-stack example.

Each visitor signs up through the API (a JWT), writes one article, then, one request
every ``pace`` seconds, reads itself (``GET /api/user``: the answer must name it), the
newest articles, its own article (whose author must be it), the tags (cached: one
answer shared by every host for 30 s), an article's comments, posts a comment (relayed
through Redis to the stream's subscribers), or tries to sign in with a wrong password:
a 422 until the shared budget of 10 tries a minute is spent, then a 429 from every host.
Two subscribers read the first visitor's article's comment stream from start to end.
"""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx

#: Each kind of request and the statuses it may answer without being a failure.
EXPECTED = {
    "me": {200},
    "list": {200},
    "article": {200},
    "tags": {200},
    "comments": {200},
    "comment": {200},
    "sign-in": {422, 429},
}
KINDS, WEIGHTS = zip(
    *[("me", 3), ("list", 3), ("article", 3), ("tags", 2), ("comments", 2), ("comment", 1),
      ("sign-in", 1)],
    strict=True,
)  # fmt: skip


async def sign_up(web: httpx.AsyncClient, number: int) -> tuple[str, str, str]:
    """A new user and an article of theirs: (name, token, slug). The sign-up's token is
    kept: a sign-in would spend the shared budget of tries."""
    name = f"soak{number}-{random.randrange(10**9)}"
    user = {"username": name, "email": f"{name}@example.org", "password": "steeped-tea-1"}
    answer = await web.post("/api/users", json={"user": user})
    answer.raise_for_status()
    token = answer.json()["user"]["token"]
    article = {"title": f"Notes of {name}", "description": "soak", "body": "b", "tagList": ["soak"]}
    written = await web.post(
        "/api/articles", json={"article": article}, headers={"Authorization": f"Token {token}"}
    )
    written.raise_for_status()
    return name, token, written.json()["article"]["slug"]


async def visitor(
    number: int, url: str, pace: float, until: float, tally: Any, slugs: list[str]
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as web:
        try:
            name, token, slug = await sign_up(web, number)
        except httpx.HTTPError as exc:
            tally.errors["sign-up " + type(exc).__name__] += 1
            return
        auth = {"Authorization": f"Token {token}"}
        slugs.append(slug)
        while time.monotonic() < until:
            started = time.monotonic()
            kind = random.choices(KINDS, WEIGHTS)[0]
            try:
                answer = await _one(web, kind, name, slug, slugs, auth, tally)
                tally.answers[(kind, answer.status_code)] += 1
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
            await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))


async def _one(
    web: httpx.AsyncClient,
    kind: str,
    name: str,
    slug: str,
    slugs: list[str],
    auth: dict[str, str],
    tally: Any,
) -> httpx.Response:
    if kind == "me":
        answer = await web.get("/api/user", headers=auth)
        if answer.status_code == 200 and answer.json()["user"]["username"] != name:
            tally.wrong.append(answer.text)
    elif kind == "list":
        answer = await web.get("/api/articles", params={"limit": 10})
    elif kind == "article":
        answer = await web.get(f"/api/articles/{slug}")
        if answer.status_code == 200 and answer.json()["article"]["author"]["username"] != name:
            tally.wrong.append(answer.text)
    elif kind == "tags":
        answer = await web.get("/api/tags")
    elif kind == "comments":
        # Not the streamed article's: its comments grow all run long, and a read of
        # them all grows with them (the heap's high-water mark, not a leak).
        answer = await web.get(f"/api/articles/{random.choice(slugs[1:] or slugs)}/comments")
    elif kind == "comment":
        target = slugs[0]  # the article the subscribers follow
        answer = await web.post(
            f"/api/articles/{target}/comments", json={"comment": {"body": "tea"}}, headers=auth
        )
        tally.published += answer.status_code == 200
    else:
        wrong = {"user": {"email": f"{name}@example.org", "password": "not-the-password"}}
        answer = await web.post("/api/users/login", json=wrong)
    return answer


async def subscriber(url: str, until: float, tally: Any, slugs: list[str], read: Any) -> None:
    """Once a visitor has written the first article, ``read`` (bench/soak.py's
    ``subscriber``) its comment stream until the end."""
    while not slugs and time.monotonic() < until:
        await asyncio.sleep(0.2)
    if slugs:
        await read(url, until, tally, f"/api/articles/{slugs[0]}/comments/events", "comment")
