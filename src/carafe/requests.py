"""``Request`` (and ``HTTPConnection``, its base shared with websockets): lazy views over a scope.

Nothing is parsed until asked for, and what is parsed is kept. The body is kept in the
request's ``RequestContext`` too, so a hook or middleware that read it leaves it
readable for the handler.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from carafe.context import CONTEXT_KEY, RequestContext, context_of
from carafe.datastructures import (
    URL,
    Address,
    Headers,
    QueryParams,
    State,
    check_headers,
    parse_cookies,
)
from carafe.exceptions import ClientDisconnect, HTTPError, elide
from carafe.limits import DEFAULT_LIMITS, Limits

if TYPE_CHECKING:
    from carafe.app import Carafe
    from carafe.forms import FormData
    from carafe.types import Receive, Scope, Send

__all__ = ["HTTPConnection", "Request", "read_body", "request_host"]

# A host name (labels of letters, digits, "-" and "_") or a bracketed IPv6 address, then
# maybe a port: what a URL can be built from. No "/", "?", "@", "#", spaces, userinfo.
_HOST_SIZE = 253 + len(":65535")  # the longest DNS name, then a port
_HOST = re.compile(r"(?:(?:[A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+\.?|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def request_host(headers: Iterable[tuple[bytes, bytes]]) -> str | None:
    """The request's ``Host`` header, or None when it has none.

    >>> request_host([(b"host", b"example.com:8000")])
    'example.com:8000'

    Raises:
        HTTPError: 400 for two ``Host`` headers (RFC 9112 section 3.2 says so) or one that
            is not ``host[:port]``, such as ``localhost/abc?x=``.
    """
    found: bytes | None = None
    for key, value in headers:
        if key == b"host":
            if found is not None:
                raise HTTPError(400, "The request has more than one Host header.")
            found = value
    if found is None:
        return None
    host = found.decode("latin-1")
    if len(host) > _HOST_SIZE or _HOST.fullmatch(host) is None:
        raise HTTPError(400, f"The Host header {elide(host)!r} is not a host name.")
    return host


async def _empty_receive() -> dict[str, Any]:
    return {"type": "http.disconnect"}


def declared_length(scope: Scope) -> int | None:
    """The ``Content-Length`` the client declared, or None; a malformed one is a 400."""
    for key, value in scope["headers"]:
        if key == b"content-length":
            if not value.isdigit() or len(value) > 18:
                raise HTTPError(400, "Content-Length must be a non-negative integer.")
            return int(value)
    return None


async def read_body(scope: Scope, receive: Receive, limit: int, *, keep: bool = True) -> bytes:
    """Read the whole request body, refusing more than ``limit`` bytes (413).

    The size is checked against ``Content-Length`` first and against the bytes
    actually received as they arrive, so a lying client is stopped as well. The body
    is kept in the request's context, so that every later reader (a middleware's own
    ``Request``, then the handler's) gets the same bytes; ``keep=False`` keeps it only
    in a context that exists already, for a caller that keeps it itself.
    """
    context: RequestContext | None = scope.get(CONTEXT_KEY)
    if context is not None and context.body is not None:
        return context.body
    length = declared_length(scope)
    if length is not None and length > limit:
        raise HTTPError(413, f"The request body is larger than the limit of {limit} bytes.")
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise HTTPError(413, f"The request body is larger than the limit of {limit} bytes.")
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    if context is not None:
        context.body = body
    elif keep:
        context = scope[CONTEXT_KEY] = RequestContext()
        context.body = body
    return body


class HTTPConnection:
    """What an HTTP request and a websocket share: the scope and its lazy, cached views.

    Annotate a dependency's parameter with ``HTTPConnection`` to serve both kinds of
    route (an auth check, say); the ``Request`` or ``WebSocket`` is injected.
    """

    __slots__ = ("_cookies", "_headers", "_query", "_state", "limits", "path_params", "scope")

    scope: Scope
    path_params: dict[str, Any]
    limits: Limits
    _headers: Headers | None
    _query: QueryParams | None
    _cookies: dict[str, str] | None
    _state: State | None

    def __init__(self, scope: Scope, path_params: dict[str, Any] | None = None) -> None:
        self.scope = scope
        self.path_params = path_params if path_params is not None else scope.get("path_params", {})
        self.limits = DEFAULT_LIMITS
        self._headers = None
        self._query = None
        self._cookies = None
        self._state = None

    @property
    def path(self) -> str:
        """The path as the client sent it (including any ``root_path``)."""
        return self.scope["path"]  # type: ignore[no-any-return]

    @property
    def headers(self) -> Headers:
        """The request headers; 431 past ``limits.max_headers`` or ``max_header_size``."""
        headers = self._headers
        if headers is None:
            raw = self.scope["headers"]
            limits = self.limits
            check_headers(raw, limits.max_headers, limits.max_header_size)
            headers = self._headers = Headers(raw)
        return headers

    @property
    def query_params(self) -> QueryParams:
        """The query string, parsed; 414 past ``limits.max_query_size``, 400 past
        ``max_query_fields``."""
        query = self._query
        if query is None:
            limits = self.limits
            query = self._query = QueryParams(
                self.scope.get("query_string", b""),
                max_size=limits.max_query_size,
                max_fields=limits.max_query_fields,
            )
        return query

    def query_dict(self) -> dict[str, list[str]]:
        """The parsed query string as ``{name: [values]}`` (what ``query_params`` wraps)."""
        return self.query_params._data

    @property
    def cookies(self) -> dict[str, str]:
        cookies = self._cookies
        if cookies is None:
            header = self.headers.get("cookie")
            cookies = self._cookies = parse_cookies(header) if header else {}
        return cookies

    @property
    def client(self) -> Address | None:
        client = self.scope.get("client")
        return Address(client[0], client[1]) if client else None

    @property
    def url(self) -> URL:
        """The URL the client asked for, its host from the ``Host`` header (else the
        server's address).

        Raises:
            HTTPError: 400 for a duplicate or ill-formed ``Host`` (see ``request_host``):
                the check is made here, where a URL is built from it, not on every request.
        """
        scope = self.scope
        scheme = scope.get("scheme", "http")
        host = request_host(scope["headers"])
        if host is None:
            server = scope.get("server")
            if server:
                name, port = server[0], server[1]
                default = 443 if scheme in ("https", "wss") else 80
                host = name if port in (None, default) else f"{name}:{port}"
            else:
                host = "localhost"
        query = scope.get("query_string", b"").decode("latin-1")
        return URL(scheme, host, scope["path"], query)

    @property
    def base_url(self) -> URL:
        return self.url.replace(path=self.scope.get("root_path", "") + "/", query="")

    @property
    def state(self) -> State:
        """Per-request attributes, seeded with the state the lifespan yielded."""
        state = self._state
        if state is None:
            state = self._state = State(self.scope.setdefault("state", {}))
        return state

    @property
    def context(self) -> RequestContext:
        """What Carafe and its features keep about this request (``carafe.context``)."""
        return context_of(self.scope)

    @property
    def app(self) -> Carafe:
        return self.scope["app"]  # type: ignore[no-any-return]

    def url_for(self, name: str, /, **params: Any) -> str:
        """The path of the route called ``name``, with this request's ``root_path``."""
        root: str = self.scope.get("root_path", "")
        return root + self.app.url_path_for(name, **params)


class Request(HTTPConnection):
    """One HTTP request. Inject it by annotating a handler parameter with ``Request``.

    Everything is computed on first access and cached::

        @app.get("/whoami")
        async def whoami(request: Request) -> dict:
            return {"agent": request.headers.get("user-agent"), "ip": request.client.host}
    """

    __slots__ = ("_body", "receive", "send")

    def __init__(
        self,
        scope: Scope,
        receive: Receive = _empty_receive,
        send: Send | None = None,
        path_params: dict[str, Any] | None = None,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.send = send
        # The base's fields are set here directly: one call fewer per request.
        self.path_params = path_params if path_params is not None else scope.get("path_params", {})
        self.limits = limits  # the route's limits merged over the app's
        self._headers = None
        self._query = None
        self._cookies = None
        self._state = None
        self._body: bytes | None = None

    @property
    def method(self) -> str:
        return self.scope["method"]  # type: ignore[no-any-return]

    async def body(self) -> bytes:
        """The whole body, at most ``limits.max_body_size`` bytes (else 413)."""
        body = self._body
        if body is None:
            body = self._body = await read_body(
                self.scope, self.receive, self.limits.max_body_size or 0
            )
        return body

    async def json(self) -> Any:
        """The body decoded as JSON; malformed JSON is a 400."""
        body = await self.body()
        try:
            return msgspec.json.decode(body)
        except (msgspec.DecodeError, RecursionError) as exc:
            raise HTTPError(400, f"The body is not valid JSON: {exc}") from None

    async def form(self) -> FormData:
        """The body parsed as a form (urlencoded or multipart), once; uploads included.

        Bounded by ``limits`` (413 past a bound), 415 when the body is no form, 400 when
        it is malformed. Uploads are closed when the request ends.
        """
        from carafe.forms import read_form

        return await read_form(self)

    async def stream(self) -> AsyncIterator[bytes]:
        """The body chunk by chunk as it arrives, without the size limit of ``body``."""
        context: RequestContext | None = self.scope.get(CONTEXT_KEY)
        cached = self._body if context is None or context.body is None else context.body
        if cached is not None:
            yield cached
            return
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientDisconnect()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.path}>"
