"""Scale-out, shown: two hosts behind HAProxy sharing one Redis (``tests/cluster.py``).

Every request goes through HAProxy with httpx, as a visitor's would, and HAProxy names
the host that answered (``X-Served-By``). What a user sees is checked while requests
cross hosts, then while faults happen: Redis killed and restarted, a host killed, a host
unplugged, a client lying in ``X-Forwarded-For``. docs/deployment.md ("Scale-out")
records the outcomes.
"""

from __future__ import annotations

import contextlib
import itertools
import queue
import re
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from tests.cluster import Cluster, missing, wait_until
from tests.conftest import IN_CI

pytestmark = pytest.mark.slow

TARGET = "tests.apps.cluster_app:app"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    lacks = missing()
    if lacks:
        message = "no cluster: " + "; ".join(lacks) + " (scripts/system-deps installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    with Cluster(TARGET) as started:
        yield started


@pytest.fixture
def healthy(cluster: Cluster) -> Cluster:
    """The cluster with every fault of an earlier test undone."""
    cluster.heal()
    return cluster


def client(cluster: Cluster, timeout: float = 20) -> httpx.Client:
    return httpx.Client(base_url=cluster.url, timeout=timeout)


def host_of(response: httpx.Response) -> str:
    return response.headers["x-served-by"]


def both_hosts(web: httpx.Client, method: str, path: str, **options: Any) -> list[httpx.Response]:
    """Repeat a request until both hosts have answered it (round robin: two or three)."""
    responses: list[httpx.Response] = []
    while len({host_of(r) for r in responses}) < 2:
        assert len(responses) < 10, [r.headers.get("x-served-by") for r in responses]
        responses.append(web.request(method, path, **options))
    return responses


def no_traceback(cluster: Cluster, response: httpx.Response) -> None:
    assert "Traceback" not in response.text
    assert "Traceback" not in cluster.logs(), cluster.logs()[-4000:]


class Events:
    """An event stream read through HAProxy: ``next()`` is the next ``(event, data)``.

    A thread reads it, so that waiting for an event that never comes (a message lost
    while Redis was away) ends with ``queue.Empty`` instead of blocking the test.
    """

    def __init__(self, web: httpx.Client, path: str) -> None:
        self._context = web.stream("GET", path)
        self.response = self._context.__enter__()
        assert self.response.status_code == 200, self.response.read()
        self._events: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        event, data = "message", ""
        # Closed under it by close(): whatever the read raises then, the stream is over.
        with contextlib.suppress(Exception):
            for line in self.response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data += line[5:].strip()
                elif not line and data:
                    self._events.put((event, msgspec.json.decode(data)))
                    event, data = "message", ""
        self._events.put(("end", None))

    def next(self, timeout: float = 10) -> tuple[str, Any]:
        return self._events.get(timeout=timeout)

    def close(self) -> None:
        """Hang up. The reader thread ends by itself when its read returns (at the next
        ping at the latest); waiting for it here would only slow the tests down."""
        self._context.__exit__(None, None, None)


# --- Shared state across hosts ---------------------------------------------------------


def test_a_session_made_on_one_host_is_the_session_on_the_other(healthy: Cluster) -> None:
    with client(healthy) as web:
        logged_in = web.post("/login", json={"name": "ann"})
        assert logged_in.status_code == 200
        seen = both_hosts(web, "GET", "/me")
    assert {r.json()["user"] for r in seen} == {"ann"}
    # Each host wrote the session the other read: the visit count never restarts.
    assert [r.json()["visits"] for r in seen] == list(range(1, len(seen) + 1))
    assert len({r.json()["served_by"].split(":")[0] for r in seen}) == 2


def test_a_rate_limit_counts_requests_on_every_host(healthy: Cluster) -> None:
    bucket = secrets.token_hex(4)
    with client(healthy) as web:
        allowed = [web.get("/limited", params={"bucket": bucket}) for _ in range(5)]
        refused = both_hosts(web, "GET", "/limited", params={"bucket": bucket})
    assert [r.status_code for r in allowed] == [200] * 5
    assert {host_of(r) for r in allowed} == {"a", "b"}
    assert [r.headers["ratelimit-remaining"] for r in allowed] == ["4", "3", "2", "1", "0"]
    assert {r.status_code for r in refused} == {429}
    assert all(int(r.headers["retry-after"]) >= 1 for r in refused)


def test_a_cached_answer_is_shared_by_every_host(healthy: Cluster) -> None:
    edition = secrets.token_hex(4)
    with client(healthy) as web:
        first = web.get("/news", params={"edition": edition})
        again = both_hosts(web, "GET", "/news", params={"edition": edition})
    assert first.status_code == 200
    assert "age" not in first.headers
    assert {r.json()["made"] for r in again} == {first.json()["made"]}  # made once, on one host
    assert {host_of(r) for r in again} == {"a", "b"}
    assert all("age" in r.headers for r in again)


def test_nobody_gets_another_users_cached_answer(healthy: Cluster) -> None:
    people = {name: client(healthy) for name in ("ann", "bob")}
    for name, web in people.items():
        assert web.post("/login", json={"name": name}).status_code == 200
    strangers = client(healthy)
    tokens = {token: client(healthy) for token in ("Bearer t-ann", "Bearer t-bob")}
    try:
        for _ in range(3):  # interleaved, so every kind of answer was there to be cached
            for name, web in people.items():
                assert {r.json()["hello"] for r in both_hosts(web, "GET", "/dashboard")} == {name}
            answers = both_hosts(strangers, "GET", "/dashboard")
            assert {r.json()["hello"] for r in answers} == {"stranger"}
            for token, web in tokens.items():
                seen = both_hosts(web, "GET", "/api/profile", headers={"Authorization": token})
                assert {r.json()["token"] for r in seen} == {token}
            anonymous = both_hosts(strangers, "GET", "/api/profile")
            assert {r.json()["token"] for r in anonymous} == {None}
    finally:
        for web in [*people.values(), strangers, *tokens.values()]:
            web.close()


def test_a_message_published_on_one_host_reaches_a_subscriber_on_the_other(
    healthy: Cluster,
) -> None:
    room = secrets.token_hex(4)
    with client(healthy) as listener, client(healthy) as poster:
        events = Events(listener, f"/rooms/{room}/events")
        try:
            subscriber = host_of(events.response)
            assert events.next()[0] == "ready"
            posted = next(
                r
                for r in (poster.post(f"/rooms/{room}", json={"n": n}) for n in range(10))
                if host_of(r) != subscriber
            )
            assert posted.status_code == 200
            wanted = posted.json()["sent"]
            received = [events.next() for _ in range(wanted["n"] + 1)]
        finally:
            events.close()
    assert ("message", wanted) in received
    assert wanted["from"].split(":")[0] != healthy.hosts[subscriber].address


# --- Faults ------------------------------------------------------------------------------


def test_spoofed_forwarded_headers_are_ignored_unless_the_proxy_sent_them(
    healthy: Cluster,
) -> None:
    lies = {"X-Forwarded-For": "6.6.6.6", "X-Forwarded-Proto": "https"}
    with client(healthy) as web:
        through_proxy = both_hosts(web, "GET", "/whoami", headers=lies)
        bucket = secrets.token_hex(4)
        limited = [
            web.get(
                "/limited", params={"bucket": bucket}, headers={"X-Forwarded-For": f"6.6.6.{n}"}
            )
            for n in range(6)
        ]
    # HAProxy appends the address it saw; Carafe takes the last one that is not a proxy.
    assert {r.json()["client"] for r in through_proxy} == {"127.0.0.1"}
    # HAProxy sets X-Forwarded-Proto itself (see haproxy_config): the client's is gone.
    assert {r.json()["url"].split(":")[0] for r in through_proxy} == {"http"}
    assert [r.status_code for r in limited] == [200] * 5 + [429]  # no new budget per lie

    host = healthy.hosts["a"]
    direct = f"http://{host.address}:8000/whoami"
    forwarded = {"X-Forwarded-For": "203.0.113.9"}
    stranger = httpx.HTTPTransport(local_address=healthy.stranger_address)
    with httpx.Client(transport=stranger, timeout=10) as web:
        seen = web.get(direct, headers=forwarded).json()
    assert seen["client"] == healthy.stranger_address  # not a trusted proxy: header ignored
    proxy = httpx.HTTPTransport(local_address=healthy.proxy_address)
    with httpx.Client(transport=proxy, timeout=10) as web:
        seen = web.get(direct, headers=forwarded).json()
    assert seen["client"] == "203.0.113.9"  # the trusted proxy's word is taken


def test_while_redis_is_down_what_needs_it_is_a_503_and_after_it_all_works(
    healthy: Cluster,
) -> None:
    room = secrets.token_hex(4)
    with client(healthy) as web, client(healthy) as listener:
        assert web.post("/login", json={"name": "ann"}).status_code == 200
        events = Events(listener, f"/rooms/{room}/events")
        try:
            assert events.next()[0] == "ready"
            subscriber = host_of(events.response)
            healthy.kill_redis()

            for path, method in (("/me", "GET"), ("/limited", "GET"), ("/rooms/x", "POST")):
                for refused in both_hosts(web, method, path, json={}):
                    assert refused.status_code == 503, (path, refused.text)
                    assert refused.headers["retry-after"] == "5"
                    assert refused.headers["content-type"] == "application/problem+json"
                    no_traceback(healthy, refused)
            # The cache steps aside: answered, just not from the cache.
            assert {r.status_code for r in both_hosts(web, "GET", "/news")} == {200}
            # Health checks touch no Redis, so both hosts stay in.
            assert healthy.status() == {"a": "UP", "b": "UP"}

            healthy.start_redis()
            # The session was written before the outage: the restarted Redis has it.
            after = both_hosts(web, "GET", "/me")
            assert [r.status_code for r in after] == [200] * len(after)
            assert {r.json()["user"] for r in after} == {"ann"}
            assert web.get("/limited", params={"bucket": room}).status_code == 200
            # The cache is used again: made once, then served by both hosts with an Age
            # (to a visitor without the session cookie, who may be served from it).
            with client(healthy) as anonymous:
                made = anonymous.get("/news", params={"edition": room})
                again = both_hosts(anonymous, "GET", "/news", params={"edition": room})
            assert {r.json()["made"] for r in again} == {made.json()["made"]}
            assert all("age" in r.headers for r in again)
            # The subscriber's reader reconnects by itself; what is published once it
            # has reaches it (messages published meanwhile are lost: pub/sub stores none).
            received = None

            def delivered() -> bool:
                nonlocal received
                posted = web.post(f"/rooms/{room}", json={"after": "restart"})
                if posted.status_code != 200 or host_of(posted) == subscriber:
                    return False
                with contextlib.suppress(queue.Empty):  # lost: not resubscribed yet
                    received = events.next(timeout=1)
                return received is not None

            wait_until(delivered, "a message after Redis came back")
            assert received is not None and received[1]["after"] == "restart"
        finally:
            events.close()
    no_traceback(healthy, after[0])


class Load:
    """Clients sending a GET then a POST, back to back, each outcome numbered by when
    its request was sent: ``(number, method, status or error)``."""

    def __init__(self, cluster: Cluster, clients: int = 4) -> None:
        self.cluster = cluster
        self.outcomes: list[tuple[int, str, int | str]] = []
        self._numbers = itertools.count()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._drive) for _ in range(clients)]

    def _drive(self) -> None:
        with client(self.cluster, timeout=30) as web:
            for method in itertools.cycle(("GET", "POST")):
                if self._stop.is_set():
                    return
                number = next(self._numbers)
                try:
                    if method == "GET":
                        response = web.get("/whoami")
                    else:
                        response = web.post("/rooms/load", json={"n": number})
                    self.outcomes.append((number, method, response.status_code))
                except httpx.HTTPError as exc:
                    self.outcomes.append((number, method, type(exc).__name__))

    def during(self, fault: Any) -> int:
        """Run ``fault`` under load, wait for HAProxy to take host a out and for 100
        more answers; the number of the first request sent after it was out."""
        for thread in self._threads:
            thread.start()
        try:
            wait_until(lambda: len(self.outcomes) >= 50, "requests flowing")
            fault()
            self.cluster.wait_status({"a": "DOWN"})
            out = next(self._numbers)
            wait_until(lambda: len(self.outcomes) >= out + 100, "requests after the host left")
        finally:
            self._stop.set()
            for thread in self._threads:
                thread.join()
        return out

    def failed(self, method: str) -> list[tuple[int, int | str]]:
        return [(n, outcome) for n, m, outcome in self.outcomes if m == method and outcome != 200]


def test_a_killed_host_costs_at_most_the_posts_it_was_serving(healthy: Cluster) -> None:
    load = Load(healthy)
    out = load.during(healthy.hosts["a"].kill)
    # HAProxy sends a GET that got no answer to the other host; a POST it does not (it
    # may have been done), so a POST the killed host had fails: the client's connection
    # is closed without an answer, or HAProxy says 502. Rarely a GET's keep-alive
    # connection is closed under it too (a browser retries that itself; httpx does not).
    # Once HAProxy has taken the host out, nothing fails.
    assert all(n < out for n, _ in load.failed("GET") + load.failed("POST")), load.outcomes
    assert {outcome for _, outcome in load.failed("GET")} <= {"RemoteProtocolError"}
    assert {outcome for _, outcome in load.failed("POST")} <= {"RemoteProtocolError", 502}
    with client(healthy) as web:
        assert {host_of(web.get("/whoami")) for _ in range(4)} == {"b"}
    healthy.heal()
    with client(healthy) as web:
        assert {host_of(r) for r in both_hosts(web, "GET", "/whoami")} == {"a", "b"}


def test_an_unplugged_host_costs_at_most_the_posts_it_was_serving(healthy: Cluster) -> None:
    load = Load(healthy)
    out = load.during(healthy.hosts["a"].link_down)
    # Nothing answers an unplugged host: after `timeout server` a GET goes to the other
    # host, a POST is a 504. New connections to it time out and go to the other host.
    assert load.failed("GET") == []
    assert all(n < out for n, _ in load.failed("POST")), (out, load.failed("POST"))
    assert {outcome for _, outcome in load.failed("POST")} <= {504}
    healthy.hosts["a"].link_up()
    healthy.wait_status({"a": "UP"})


def test_sessions_survive_a_restart_of_every_host(healthy: Cluster) -> None:
    with client(healthy) as web:
        logged_in = web.post("/login", json={"name": "cy"})
        assert logged_in.status_code == 200, (logged_in.headers, healthy.logs()[-3000:])
        for host in healthy.hosts.values():
            host.kill()
        healthy.heal()
        seen = both_hosts(web, "GET", "/me")
    assert {r.json()["user"] for r in seen} == {"cy"}


# --- Another app: examples/site -------------------------------------------------------


@pytest.fixture(scope="module")
def site(cluster: Cluster) -> Iterator[Cluster]:
    """examples/site/app.py on its own cluster (sessions in Redis, accounts per worker)."""
    with Cluster("examples.site.app:app", health="/") as started:
        yield started


def sign_up(web: httpx.Client, name: str) -> tuple[str, str]:
    """Sign up ``name``; the hosts that served the form and took the post."""
    form = web.get("/signup")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    data = {"csrf_token": token[1], "name": name, "email": f"{name}@example.com"}
    posted = web.post("/signup", data={**data, "password": "a long password"})
    assert posted.status_code == 303, posted.text  # the form's CSRF token was accepted
    return host_of(form), host_of(posted)


def test_the_example_site_never_logs_a_visitor_in_as_somebody_else(site: Cluster) -> None:
    visitors: dict[str, httpx.Client] = {}
    where: dict[str, str] = {}
    crossed = False
    try:
        for n in range(8):  # until two accounts live on different hosts
            name = f"user{n}"
            web = visitors[name] = client(site)
            if n % 2:  # round robin, two requests a sign-up: shift where the next post goes
                web.get("/")
            form_host, where[name] = sign_up(web, name)
            crossed |= form_host != where[name]
            if len(set(where.values())) == 2:
                break
        assert len(set(where.values())) == 2
        assert crossed  # a form from one host, posted to the other: the session is shared
        for name, web in visitors.items():
            for answer in both_hosts(web, "GET", "/account"):
                if host_of(answer) == where[name]:
                    assert answer.status_code == 200
                    assert f"{name}@example.com" in answer.text
                else:  # the account lives on the other host: asked to log in, nothing else
                    assert answer.status_code == 303
                    assert answer.headers["location"] == "/login?next=/account"
    finally:
        for web in visitors.values():
            web.close()


def test_without_persistence_a_redis_restart_logs_everyone_out(cluster: Cluster) -> None:
    if missing():
        pytest.skip("no cluster")
    with Cluster(TARGET, persistence=False) as forgetful, client(forgetful) as web:
        assert web.post("/login", json={"name": "dee"}).status_code == 200
        assert {r.status_code for r in both_hosts(web, "GET", "/limited")} == {200}
        forgetful.kill_redis()
        forgetful.start_redis()
        # The first requests after the restart, on connections pooled before it.
        after = both_hosts(web, "GET", "/me")
        limited = both_hosts(web, "GET", "/limited")
    assert [r.status_code for r in limited] == [200] * len(limited)
    # No error: the session cookie names a session Redis no longer has, so it is a new one.
    assert [r.status_code for r in after] == [200] * len(after)
    assert {r.json()["user"] for r in after} == {None}
    assert after[0].json()["visits"] == 1


def test_the_example_sites_login_limit_counts_tries_on_every_host(site: Cluster) -> None:
    """examples/site limits login tries to 10 a minute per client, in the shared Redis:
    tries spread over both hosts count once, and then both hosts refuse."""
    with client(site) as web:
        form = web.get("/login")
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found is not None
        wrong = {"csrf_token": found[1], "email": "nobody@example.com", "password": "guess"}
        tries = [web.post("/login", data=wrong) for _ in range(10)]
        refused = both_hosts(web, "POST", "/login", data=wrong)
    assert [r.status_code for r in tries] == [401] * 10
    assert {host_of(r) for r in tries} == {"a", "b"}
    assert {r.status_code for r in refused} == {429}
    assert all("Too many tries" in r.text for r in refused)
