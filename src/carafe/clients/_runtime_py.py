"""The fixed part of every generated Python client, copied into it as text.

It is kept as a string, not imported, because the generated module must stand alone:
it imports httpx and msgspec, never carafe.
"""

from __future__ import annotations

__all__ = ["HEADER", "RUNTIME"]

HEADER = """\
from __future__ import annotations

import dataclasses
import datetime
{imports}from collections.abc import Mapping
from typing import Any, Generic, {literal}Self, TypeVar
from urllib.parse import quote

import httpx
import msgspec

"""

RUNTIME = '''
# --- What every operation shares ---------------------------------------------------

_T = TypeVar("_T")
File = bytes | tuple[str, bytes] | tuple[str, bytes, str]
"""An uploaded file: its bytes, or (filename, bytes) or (filename, bytes, content type)."""


class APIError(Exception):
    """The server answered with a status outside 2xx.

    Attributes:
        status: The HTTP status code.
        problem: The decoded body: an instance of the error model the API documents for
            that status (``Problem``, ``ValidationProblem``...), else the plain JSON value,
            else the text.
        response: The ``httpx.Response``.
    """

    def __init__(self, response: httpx.Response, problem: object) -> None:
        self.status = response.status_code
        self.problem = problem
        self.response = response
        title = getattr(problem, "detail", None) or getattr(problem, "title", None)
        if isinstance(problem, dict):
            title = problem.get("detail") or problem.get("title")
        super().__init__(f"{self.status} {title or response.reason_phrase}")


@dataclasses.dataclass(slots=True)
class _Call(Generic[_T]):
    """One request to send and how to read its answer."""

    method: str
    url: str
    kind: str  # "json", "text" or "none"
    result: Any = None
    errors: Mapping[int, Any] = dataclasses.field(default_factory=dict)
    params: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    content: bytes | None = None
    data: dict[str, str | list[str]] = dataclasses.field(default_factory=dict)
    files: list[tuple[str, File]] = dataclasses.field(default_factory=list)

    def arguments(self, headers: Mapping[str, str]) -> dict[str, Any]:
        arguments: dict[str, Any] = {
            "params": self.params,
            "headers": {**headers, **self.headers},
        }
        if self.content is not None:
            arguments["content"] = self.content
            arguments["headers"]["content-type"] = "application/json"
        if self.data:
            arguments["data"] = self.data
        if self.files:
            arguments["files"] = self.files
        return arguments

    def read(self, response: httpx.Response) -> _T:
        if not response.is_success:
            raise APIError(response, _problem(response, self.errors.get(response.status_code)))
        value: Any = None
        if self.kind == "text":
            value = response.text
        elif self.kind == "json":
            value = msgspec.json.decode(response.content, type=self.result)
        result: _T = value
        return result


def _problem(response: httpx.Response, model: Any) -> object:
    if "json" not in response.headers.get("content-type", ""):
        return response.text
    try:
        return msgspec.json.decode(response.content, type=model or Any)
    except msgspec.DecodeError:
        try:
            return msgspec.json.decode(response.content)
        except msgspec.DecodeError:
            return response.text


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.date | datetime.time):
        return value.isoformat()
    return str(value)


def _path(value: object) -> str:
    return quote(_text(value), safe="")


def _add(pairs: list[tuple[str, str]], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        pairs.extend((name, _text(item)) for item in value if item is not None)
    elif value is not None:
        pairs.append((name, _text(value)))


def _header(headers: dict[str, str], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        headers[name] = ", ".join(_text(item) for item in value)
    elif value is not None:
        headers[name] = _text(value)


def _cookie(headers: dict[str, str], name: str, value: object) -> None:
    if value is not None:
        pair = f"{name}={quote(_text(value))}"
        headers["cookie"] = f"{headers['cookie']}; {pair}" if "cookie" in headers else pair


def _field(data: dict[str, str | list[str]], name: str, value: object) -> None:
    if isinstance(value, list | tuple):
        data[name] = [_text(item) for item in value]
    elif value is not None:
        data[name] = _text(value)


def _file(files: list[tuple[str, File]], name: str, value: File | list[File] | None) -> None:
    if isinstance(value, list):
        files.extend((name, item) for item in value)
    elif value is not None:
        files.append((name, value))


class Client:
    """A synchronous client: ``Client("http://127.0.0.1:8000")``.

    Args:
        base_url: Where the API is served.
        headers: Sent with every request (``{"Authorization": "Bearer ..."}``).
        http: An ``httpx.Client`` to send through instead of a new one (its own
            ``base_url``, auth and transport are used; it is not closed by ``close()``).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        http: httpx.Client | None = None,
    ) -> None:
        self.http = http or httpx.Client(base_url=base_url)
        self.headers = dict(headers or {})
        self._own = http is None

    def close(self) -> None:
        """Close the connections, unless the ``httpx.Client`` was given."""
        if self._own:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _send(self, call: _Call[_T]) -> _T:
        response = self.http.request(call.method, call.url, **call.arguments(self.headers))
        return call.read(response)
{client}

class AsyncClient:
    """An asynchronous client: ``async with AsyncClient("http://127.0.0.1:8000") as api:``.

    Args:
        base_url: Where the API is served.
        headers: Sent with every request (``{"Authorization": "Bearer ..."}``).
        http: An ``httpx.AsyncClient`` to send through instead of a new one (it is not
            closed by ``aclose()``).
    """

    def __init__(
        self,
        base_url: str = "",
        *,
        headers: Mapping[str, str] | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http or httpx.AsyncClient(base_url=base_url)
        self.headers = dict(headers or {})
        self._own = http is None

    async def aclose(self) -> None:
        """Close the connections, unless the ``httpx.AsyncClient`` was given."""
        if self._own:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _send(self, call: _Call[_T]) -> _T:
        response = await self.http.request(call.method, call.url, **call.arguments(self.headers))
        return call.read(response)
{async_client}'''
