"""``MetricsMiddleware``: Prometheus metrics by route template, served at ``/metrics``.

    app.add_middleware(MetricsMiddleware)                  # GET /metrics to scrape

Three metrics, labelled by method and route *template* (``/items/{item_id}``, or
``unmatched``), never by raw path, so their number stays bounded whatever clients send:

    http_requests_total{method, route, status}        counter
    http_request_duration_seconds{method, route}      histogram (seconds)
    http_requests_in_progress{method, route}          gauge

Each middleware has its own registry, so two apps in one process count apart. Under
several worker processes, prometheus-client's multiprocess mode is on when
``PROMETHEUS_MULTIPROC_DIR`` names an empty directory: each worker counts in files
there, and a scrape, answered by any worker, adds them up. ``carafe run --workers N``
sets it to a temporary directory of its own when it is not set (and removes it at exit);
under another process manager, set it before the workers start. The in-progress gauge
is summed over the workers that are alive (``livesum``): a scrape drops what a worker
that died (killed mid-request) left in it.
Needs ``pip install 'carafe[metrics]'`` (prometheus-client).
"""

from __future__ import annotations

import os
import re
import time
from typing import TYPE_CHECKING, Any

from carafe.context import context_of
from carafe.exceptions import ConfigurationError

if TYPE_CHECKING:
    from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["MetricsMiddleware"]

_MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"


class MetricsMiddleware:
    """Count and time requests; answer ``GET {path}`` with the exposition format.

    Args:
        app: The app to wrap.
        path: Where the metrics are served (not counted itself).
        namespace: A prefix for the metric names (``shop_http_requests_total``).
    """

    def __init__(self, app: ASGIApp, *, path: str = "/metrics", namespace: str = "") -> None:
        try:
            import prometheus_client
        except ImportError:
            raise ConfigurationError(
                "MetricsMiddleware needs prometheus-client: pip install 'carafe[metrics]'"
            ) from None
        self.app = app
        self.path = path
        self.client = prometheus_client
        self.multiprocess = bool(os.environ.get(_MULTIPROCESS))
        # NOTE: in multiprocess mode the values live in files, not in this registry.
        self.registry = prometheus_client.CollectorRegistry()
        labels = ("method", "route")
        self.requests = prometheus_client.Counter(
            "http_requests_total",
            "Requests answered, by method, route template and status.",
            (*labels, "status"),
            namespace=namespace,
            registry=self.registry,
        )
        self.duration = prometheus_client.Histogram(
            "http_request_duration_seconds",
            "Time from the request to the end of its response, in seconds.",
            labels,
            namespace=namespace,
            registry=self.registry,
        )
        self.in_progress = prometheus_client.Gauge(
            "http_requests_in_progress",
            "Requests being answered now.",
            labels,
            namespace=namespace,
            registry=self.registry,
            multiprocess_mode="livesum",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.path and scope["method"] in ("GET", "HEAD"):
            await self._expose(scope, send)
            return
        route = context_of(scope).route
        labels = (scope["method"], route.path if route is not None else "unmatched")
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        gauge = self.in_progress.labels(*labels)
        gauge.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note)
        finally:
            self.duration.labels(*labels).observe(time.perf_counter() - started)
            self.requests.labels(*labels, str(status)).inc()
            gauge.dec()

    async def _expose(self, scope: Scope, send: Send) -> None:
        registry: Any = self.registry
        if self.multiprocess:
            from prometheus_client import multiprocess

            directory = os.environ[_MULTIPROCESS]
            for pid in _dead_pids(directory):
                multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
            registry = self.client.CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        body = self.client.generate_latest(registry)
        headers = [
            (b"content-type", self.client.CONTENT_TYPE_LATEST.encode("latin-1")),
            (b"content-length", str(len(body)).encode("latin-1")),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        head = scope["method"] == "HEAD"
        await send({"type": "http.response.body", "body": b"" if head else body})


_LIVE_GAUGE = re.compile(r"gauge_live[a-z]*_(\d+)\.db")


def _dead_pids(directory: str) -> set[int]:
    """The processes that left live-gauge files in ``directory`` and are gone.

    NOTE: a worker killed mid-request never lowers ``http_requests_in_progress``, and no
    server we offer tells the app when a worker dies (uvicorn's and granian's
    supervisors have no hook; gunicorn's ``child_exit`` does). So each scrape looks:
    ``mark_process_dead`` drops the files of every pid that no longer runs. The
    directory must belong to one machine (one pid namespace).
    """
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    dead: set[int] = set()
    for name in names:
        match = _LIVE_GAUGE.fullmatch(name)
        if match is None:
            continue
        pid = int(match.group(1))
        if not _alive(pid):
            dead.add(pid)
    return dead


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs: a zombie (killed, not yet reaped by its supervisor) is not."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            state = stat.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):  # no /proc (macOS), or it went meanwhile
        return True
    return state != b"Z"
