"""``TracingMiddleware``: one OpenTelemetry server span per request, named by route template.

    app.add_middleware(TracingMiddleware)           # the global tracer provider
    app.add_middleware(TracingMiddleware, tracer_provider=provider)

The span is named ``GET /items/{item_id}``, never by the raw path (``/items/42``), so
traces group by route: the app finds the route before its middleware runs and keeps it
in ``RequestContext.route``. A request that matches no route is named by its method
alone, as the semantic conventions ask. Attributes follow the stable HTTP semantic
conventions (``http.request.method``, ``http.route``, ``url.path``, ``url.scheme``,
``http.response.status_code``, ``client.address``...). An incoming W3C ``traceparent``
continues the caller's trace. A 5xx answer (or an exception) marks the span as an error.

The span is current while the handler runs, sync handlers included (their thread gets
the request's context variables), so spans the handler starts are its children.
Needs ``pip install 'carafe[otel]'`` (opentelemetry-api; an SDK to export).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from carafe.context import context_of
from carafe.exceptions import ConfigurationError

if TYPE_CHECKING:
    from carafe.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["TracingMiddleware"]


class TracingMiddleware:
    """Wrap each HTTP request and websocket in a server span (see the module docstring).

    Args:
        app: The app to wrap.
        tracer_provider: The OpenTelemetry ``TracerProvider`` (default: the global one).
        excluded_paths: Paths traced never (health checks, ``/metrics``).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        tracer_provider: Any = None,
        excluded_paths: tuple[str, ...] = (),
    ) -> None:
        try:
            from opentelemetry import propagate, trace
        except ImportError:
            raise ConfigurationError(
                "TracingMiddleware needs OpenTelemetry: pip install 'carafe[otel]'"
            ) from None
        from importlib.metadata import version

        self.app = app
        self.tracer = trace.get_tracer("carafe", version("carafe"), tracer_provider)
        self.extract = propagate.extract
        self.server = trace.SpanKind.SERVER
        self.error = trace.Status(trace.StatusCode.ERROR)
        self.excluded = frozenset(excluded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket") or scope["path"] in self.excluded:
            await self.app(scope, receive, send)
            return
        route = context_of(scope).route
        method = scope.get("method", "GET") if kind == "http" else "GET"
        name = f"{method} {route.path}" if route is not None else method
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        with self.tracer.start_as_current_span(
            name,
            context=self.extract(headers),
            kind=self.server,
            attributes=_attributes(scope, method, route.path if route else None, headers),
            record_exception=True,
            set_status_on_exception=True,
        ) as span:

            async def send_and_note(message: Message) -> None:
                if message["type"] == "http.response.start":
                    status = message["status"]
                    span.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        span.set_status(self.error)
                await send(message)

            await self.app(scope, receive, send_and_note if kind == "http" else send)


def _attributes(
    scope: Scope, method: str, template: str | None, headers: dict[str, str]
) -> dict[str, Any]:
    found: dict[str, Any] = {
        "http.request.method": method,
        "url.path": scope["path"],
        "url.scheme": scope.get("scheme", "http"),
        "network.protocol.version": scope.get("http_version", "1.1"),
    }
    if template is not None:
        found["http.route"] = template
    query = scope.get("query_string", b"")
    if query:
        found["url.query"] = query.decode("latin-1")
    client = scope.get("client")
    if client:
        found["client.address"] = client[0]
    host = headers.get("host")
    if host:
        name, colon, port = host.rpartition(":")
        if colon and port.isdigit() and not name.endswith(":"):  # not a bare IPv6 address
            found["server.address"], found["server.port"] = name, int(port)
        else:
            found["server.address"] = host
    agent = headers.get("user-agent")
    if agent:
        found["user_agent.original"] = agent
    return found
