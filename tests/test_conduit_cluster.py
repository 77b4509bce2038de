"""Conduit on two hosts behind HAProxy, sharing one Redis and one PostgreSQL.

``ConduitCluster`` is ``tests/cluster.py``'s cluster serving ``examples.conduit.app:app``
(``carafe run --workers 2`` on each host) with a PostgreSQL of its own that listens on
the bridge, migrated with ``carafe --app ... db upgrade`` before the hosts start. Every
request goes through HAProxy, and ``X-Served-By`` names the host that answered: the
tests show a session, the sign-in limit, the tags cache and the comment stream each
crossing hosts, and the API working end to end across them.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.cluster import ROOT, Cluster, missing
from tests.conftest import IN_CI, free_port
from tests.postgres import PostgresServer, postgres_bindir
from tests.test_conduit_pages import TOKEN
from tests.test_scaleout import Events, both_hosts, host_of, no_traceback

pytestmark = pytest.mark.slow

TARGET = "examples.conduit.app:app"


class ConduitCluster(Cluster):
    """The cluster, plus a PostgreSQL on the bridge that both hosts use."""

    def __init__(self) -> None:
        super().__init__(TARGET, health="/openapi.json")
        self.pg_directory = Path(tempfile.mkdtemp(prefix="carafe-cluster-pg-"))
        self.pg: PostgresServer | None = None

    def prepare(self) -> None:
        self.pg = PostgresServer.start(
            self.pg_directory, free_port(), network=f"{self.proxy_address}/24"
        )
        postmaster = (self.pg_directory / "data" / "postmaster.pid").read_text().split()[0]
        self.extra_processes.append((int(postmaster), str(self.pg_directory)))
        self._record()  # a run killed outright: the next cluster stops this PostgreSQL
        local = self.pg.create_database("conduit")
        migrate = [sys.executable, "-m", "carafe", "--app", TARGET, "db", "upgrade"]
        env = {**os.environ, "CARAFE_DATABASE_URL": local, "CARAFE_SECRET_KEY": "m" * 32}
        done = subprocess.run(
            migrate, check=False, cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        bridged = local.replace("127.0.0.1", self.proxy_address)
        self.extra_env["CARAFE_DATABASE_URL"] = bridged

    def release(self) -> None:
        if self.pg is not None:
            self.pg.stop()
        shutil.rmtree(self.pg_directory, ignore_errors=True)

    def sql(self, statement: str) -> str:
        assert self.pg is not None
        return self.pg.psql(statement, "conduit")


@pytest.fixture(scope="module")
def cluster() -> Iterator[ConduitCluster]:
    lacks = missing()
    if postgres_bindir() is None:
        lacks.append("PostgreSQL is not installed")
    if lacks:
        message = "no cluster: " + "; ".join(lacks) + " (scripts/system-deps installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with ConduitCluster() as started:
        yield started


@pytest.fixture
def healthy(cluster: ConduitCluster) -> ConduitCluster:
    cluster.heal()
    return cluster


def client(cluster: Cluster) -> httpx.Client:
    return httpx.Client(base_url=cluster.url, timeout=20, follow_redirects=True)


def form_post(web: httpx.Client, page: str, url: str, data: dict[str, str]) -> httpx.Response:
    """A form posted as a browser does: the page first (for its CSRF token), then the post."""
    shown = web.get(page)
    found = TOKEN.search(shown.text)
    assert found is not None, shown.text[:500]
    return web.post(url, data={"csrf_token": found[1], **data})


def register(web: httpx.Client, name: str) -> dict[str, str]:
    """Sign ``name`` up through the API; the headers that act as them."""
    user = {"username": name, "email": f"{name}@example.org", "password": f"{name}-password"}
    answer = web.post("/api/users", json={"user": user})
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Token {answer.json()['user']['token']}"}


def forget_sign_in_tries(cluster: Cluster) -> None:
    """Every test signs in from 127.0.0.1, one budget: each limit test starts from zero."""
    with redis.Redis.from_url(cluster.redis_url) as store:
        for key in store.scan_iter("*sign-in*"):
            store.delete(key)


def test_a_visitor_signed_up_on_one_host_is_signed_in_on_the_other(healthy: Cluster) -> None:
    name = "u" + secrets.token_hex(4)
    with client(healthy) as web:
        data = {"username": name, "email": f"{name}@example.org", "password": "pass-word-1"}
        signed_up = form_post(web, "/register", "/register", data)
        assert signed_up.status_code == 200 and f"Welcome to Conduit, {name}!" in signed_up.text
        settings = both_hosts(web, "GET", "/settings")
        assert {r.status_code for r in settings} == {200}
        assert all(f'value="{name}"' in r.text for r in settings)  # the form holds their name
        web.cookies.clear()
        anonymous = web.get("/settings")  # the cookie is what signs them in
        assert anonymous.status_code == 200 and "Sign in to see that page." in anonymous.text
        signed_in = form_post(
            web, "/login", "/login", {"email": f"{name}@example.org", "password": "pass-word-1"}
        )
        assert f"Welcome back, {name}." in signed_in.text
        assert {r.status_code for r in both_hosts(web, "GET", "/settings")} == {200}
    no_traceback(healthy, signed_in)


def test_the_sign_in_limit_counts_tries_on_both_hosts(healthy: ConduitCluster) -> None:
    forget_sign_in_tries(healthy)
    wrong = {"user": {"email": "nobody@example.org", "password": "not-it"}}
    with client(healthy) as web:
        tries = [web.post("/api/users/login", json=wrong) for _ in range(6)]
        pages = [
            form_post(web, "/login", "/login", {"email": "nobody@example.org", "password": "x"})
            for _ in range(4)
        ]
        refused = both_hosts(web, "POST", "/api/users/login", json=wrong)
        page = form_post(web, "/login", "/login", {"email": "nobody@example.org", "password": "x"})
    assert [r.status_code for r in tries] == [422] * 6
    assert {host_of(r) for r in tries} == {"a", "b"}
    assert [r.status_code for r in pages] == [422] * 4
    assert {r.status_code for r in refused} == {429}  # the 11th try and on, on either host
    assert all(list(r.json()["errors"]) == ["body"] for r in refused)
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)
    assert page.status_code == 429 and "Too many tries. Try again in" in page.text
    forget_sign_in_tries(healthy)


def test_tags_cached_by_one_host_are_served_by_the_other(healthy: ConduitCluster) -> None:
    tag = "t" + secrets.token_hex(4)
    probe = f"/api/tags?probe={tag}"  # a key of its own in the shared cache
    with client(healthy) as web:
        ann = register(web, "c" + secrets.token_hex(4))
        made = web.post(
            "/api/articles",
            json={"article": {"title": tag, "description": "d", "body": "b"}},
            headers=ann,
        )
        assert made.status_code == 201, made.text
        first = web.get(probe)
        assert "age" not in first.headers and tag not in first.json()["tags"]
        healthy.sql(
            f"INSERT INTO tags (name) VALUES ('{tag}');"
            "INSERT INTO article_tags (article_id, tag_id) SELECT a.id, t.id FROM articles a,"
            f" tags t WHERE a.slug = '{made.json()['article']['slug']}' AND t.name = '{tag}'"
        )
        again = both_hosts(web, "GET", probe)
        fresh = web.get(f"/api/tags?probe={tag}-after")
    assert host_of(first) in {host_of(r) for r in again}
    others = [r for r in again if host_of(r) != host_of(first)]
    assert others and all("age" in r.headers for r in others)  # a hit, from the other host
    assert all(r.json() == first.json() for r in again)  # still without the new tag
    assert tag in fresh.json()["tags"]  # the database has it: an answer not cached shows it


def test_a_comment_posted_through_one_host_reaches_a_listener_on_the_other(
    healthy: Cluster,
) -> None:
    with client(healthy) as web, client(healthy) as listening:
        ann = register(web, "s" + secrets.token_hex(4))
        article = {
            "article": {
                "title": "Streamed " + secrets.token_hex(3),
                "description": "d",
                "body": "b",
            }
        }
        slug = web.post("/api/articles", json=article, headers=ann).json()["article"]["slug"]
        events = Events(listening, f"/api/articles/{slug}/comments/events")
        try:
            listener = host_of(events.response)
            said: list[httpx.Response] = []
            while not said or host_of(said[-1]) == listener:
                assert len(said) < 6
                body = {"comment": {"body": f"number {len(said)}"}}
                said.append(web.post(f"/api/articles/{slug}/comments", json=body, headers=ann))
                assert said[-1].status_code == 200, said[-1].text
            got = [events.next() for _ in said]
        finally:
            events.close()
    assert [event for event, _ in got] == ["comment"] * len(said)
    assert [data for _, data in got] == [r.json()["comment"] for r in said]
    assert host_of(said[-1]) != listener  # the last one crossed from the other host


def test_the_api_end_to_end_across_hosts(healthy: Cluster) -> None:
    forget_sign_in_tries(healthy)
    name = "e" + secrets.token_hex(4)
    user = {"username": name, "email": f"{name}@example.org", "password": f"{name}-password"}
    with client(healthy) as web:
        answers = [web.post("/api/users", json={"user": user})]
        credentials = {"email": user["email"], "password": user["password"]}
        answers.append(web.post("/api/users/login", json={"user": credentials}))
        auth = {"Authorization": f"Token {answers[-1].json()['user']['token']}"}
        answers.append(web.get("/api/user", headers=auth))
        article = {"title": f"Across {name}", "description": "d", "body": "b", "tagList": [name]}
        answers.append(web.post("/api/articles", json={"article": article}, headers=auth))
        slug = answers[-1].json()["article"]["slug"]
        answers.append(web.get("/api/articles", params={"author": name}))
        answers += both_hosts(web, "GET", f"/api/articles/{slug}", headers=auth)
    assert [r.status_code for r in answers[:4]] == [201, 200, 200, 201]
    assert answers[2].json()["user"]["username"] == name
    listed = answers[4].json()
    assert listed["articlesCount"] == 1 and listed["articles"][0]["slug"] == slug
    assert {r.json()["article"]["title"] for r in answers[5:]} == {f"Across {name}"}
    assert {host_of(r) for r in answers} == {"a", "b"}
    no_traceback(healthy, answers[-1])


def test_redis_down_conduit_answers_503s_and_reads_on(healthy: ConduitCluster) -> None:
    with client(healthy) as web:
        ann = register(web, "r" + secrets.token_hex(4))
        article = {
            "article": {"title": "Outage " + secrets.token_hex(3), "description": "d", "body": "b"}
        }
        slug = web.post("/api/articles", json=article, headers=ann).json()["article"]["slug"]
        visitor = "v" + secrets.token_hex(4)
        data = {"username": visitor, "email": f"{visitor}@example.org", "password": "pass-word-1"}
        assert form_post(web, "/register", "/register", data).status_code == 200
        healthy.kill_redis()
        try:
            settings = both_hosts(web, "GET", "/settings")  # the session is in Redis
            web.cookies.clear()  # from here on, what needs no session
            credentials = {"user": {"email": "nobody@example.org", "password": "not-it"}}
            logins = both_hosts(web, "POST", "/api/users/login", json=credentials)
            comment = {"comment": {"body": "lost"}}
            comments = both_hosts(
                web, "POST", f"/api/articles/{slug}/comments", json=comment, headers=ann
            )
            tags = both_hosts(web, "GET", "/api/tags")
            read = both_hosts(web, "GET", f"/api/articles/{slug}")
            home = both_hosts(web, "GET", "/")  # a visitor without a session reads on
        finally:
            healthy.start_redis()
        kept = web.get(f"/api/articles/{slug}/comments").json()
    assert {r.status_code for r in settings} == {503}
    assert all("retry-after" in r.headers for r in settings)
    assert {r.status_code for r in logins + comments} == {503}
    assert all(list(r.json()["errors"]) == ["body"] for r in logins + comments)
    assert {r.status_code for r in tags + read + home} == {200}
    assert kept == {"comments": []}  # a comment that could not be relayed was not kept
    assert "Traceback" not in healthy.logs()
