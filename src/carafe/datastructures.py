"""Headers, query parameters, cookies, URLs and state: read-only views over ASGI data.

They parse on first use and keep the result; nothing here does I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus

from carafe.exceptions import HTTPError

__all__ = [
    "URL",
    "Address",
    "Headers",
    "MutableHeaders",
    "QueryParams",
    "State",
    "check_headers",
    "parse_cookies",
    "parse_query",
]

RawHeaders = list[tuple[bytes, bytes]]


class Address:
    """The client's ``host`` and ``port``."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port

    def __iter__(self) -> Iterator[Any]:
        yield self.host
        yield self.port

    def __eq__(self, other: object) -> bool:
        return tuple(self) == tuple(other) if isinstance(other, (Address, tuple)) else False

    def __hash__(self) -> int:
        return hash((self.host, self.port))

    def __repr__(self) -> str:
        return f"Address(host={self.host!r}, port={self.port!r})"


class Headers(Mapping[str, str]):
    """Case-insensitive, multi-valued request headers.

    >>> h = Headers([(b"accept", b"text/html"), (b"accept", b"*/*")])
    >>> h["Accept"], h.getlist("accept")
    ('text/html', ['text/html', '*/*'])
    """

    __slots__ = ("_first", "raw")

    def __init__(self, raw: Iterable[tuple[bytes, bytes]] = ()) -> None:
        # A list is shared, not copied: a response's headers view writes through.
        self.raw: RawHeaders = raw if isinstance(raw, list) else list(raw)
        self._first: dict[str, str] | None = None

    def _index(self) -> dict[str, str]:
        first = self._first
        if first is None:
            first = {}
            for key, value in self.raw:
                name = key.decode("latin-1").lower()
                if name not in first:
                    first[name] = value.decode("latin-1")
            self._first = first
        return first

    def __getitem__(self, key: str) -> str:
        return self._index()[key.lower()]

    def get(self, key: str, default: Any = None) -> Any:
        return self._index().get(key.lower(), default)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._index()

    def __iter__(self) -> Iterator[str]:
        return iter(self._index())

    def __len__(self) -> int:
        return len(self._index())

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, in the order received."""
        name = key.lower().encode("latin-1")
        return [v.decode("latin-1") for k, v in self.raw if k.lower() == name]

    def __repr__(self) -> str:
        pairs = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in self.raw]
        return f"{type(self).__name__}({pairs!r})"


def check_headers(raw: RawHeaders, max_count: int | None, max_size: int | None) -> None:
    """Refuse request headers past ``max_count`` lines or ``max_size`` bytes (431).

    >>> check_headers([(b"accept", b"*/*")], 100, 8)
    Traceback (most recent call last):
    ...
    carafe.exceptions.HTTPError: (431, 'The request headers are larger than the limit of 8 bytes.')
    """
    if max_count is not None and len(raw) > max_count:
        raise HTTPError(431, f"The request has more than {max_count} headers.")
    if max_size is not None:
        # PERF: a plain loop; sum(map(len, chain(...))) is slower (343 vs 582 ns, 10 headers).
        size = 0
        for key, value in raw:
            size += len(key) + len(value)
        if size > max_size:
            raise HTTPError(
                431, f"The request headers are larger than the limit of {max_size} bytes."
            )


class MutableHeaders(Headers):
    """Response headers: the same view, writable, over the raw list the response sends."""

    __slots__ = ()

    def __setitem__(self, key: str, value: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]
        self.raw.append((name, value.encode("latin-1")))
        self._first = None

    def __delitem__(self, key: str) -> None:
        name = key.lower().encode("latin-1")
        self.raw[:] = [(k, v) for k, v in self.raw if k != name]
        self._first = None

    def append(self, key: str, value: str) -> None:
        """Add a value without replacing the ones already there (``Set-Cookie``)."""
        self.raw.append((key.lower().encode("latin-1"), value.encode("latin-1")))
        self._first = None

    def setdefault(self, key: str, value: str) -> str:
        if key in self:
            return self[key]
        self[key] = value
        return value

    def update(self, other: Mapping[str, str]) -> None:
        for key, value in other.items():
            self[key] = value

    def add_vary(self, value: str) -> None:
        """Add ``value`` to ``Vary`` once."""
        current = self.get("vary")
        if current is None:
            self["vary"] = value
        elif value.lower() not in (v.strip().lower() for v in current.split(",")):
            self["vary"] = f"{current}, {value}"


def parse_query(
    query_string: bytes | str, *, max_size: int | None = None, max_fields: int | None = None
) -> dict[str, list[str]]:
    """Parse a query string into ``{name: [values]}``, keeping blank values.

    >>> parse_query(b"a=1&a=2&b=&c")
    {'a': ['1', '2'], 'b': [''], 'c': ['']}

    Raises:
        HTTPError: 414 for a query string longer than ``max_size`` characters, 400 for
            one with more than ``max_fields`` fields (empty ones, ``a&&b``, not counted).
    """
    result: dict[str, list[str]] = {}
    if not query_string:
        return result
    if max_size is not None and len(query_string) > max_size:
        raise HTTPError(414, f"The query string is longer than the limit of {max_size} bytes.")
    if isinstance(query_string, bytes):
        query_string = query_string.decode("latin-1")
    pairs = query_string.split("&")
    # PERF: one len() per request; empty fields are counted only past the limit.
    if max_fields is not None and len(pairs) > max_fields and _fields(pairs) > max_fields:
        raise HTTPError(400, f"The query string has more than {max_fields} fields.")
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition("=")
        # PERF: most parameters need no decoding; unquote_plus costs ~0.5 µs a call.
        if "%" in name or "+" in name:
            name = _decode(name)
        if "%" in value or "+" in value:
            value = _decode(value)
        values = result.get(name)
        if values is None:
            result[name] = [value]
        else:
            values.append(value)
    return result


def _fields(pairs: list[str]) -> int:
    return len(pairs) - pairs.count("")


def _decode(text: str) -> str:
    # The query string arrives as bytes; percent-escapes encode UTF-8.
    return unquote_plus(text.encode("latin-1").decode("utf-8", "replace"), errors="replace")


class QueryParams(Mapping[str, str]):
    """Multi-valued query parameters; indexing gives the first value (as Flask does).

    >>> q = QueryParams(b"tag=a&tag=b")
    >>> q["tag"], q.getlist("tag")
    ('a', ['a', 'b'])
    """

    __slots__ = ("_data",)

    def __init__(
        self,
        query: bytes | str | Mapping[str, list[str]] = b"",
        *,
        max_size: int | None = None,
        max_fields: int | None = None,
    ) -> None:
        # PERF: the builtin types first; isinstance() against the Mapping ABC costs
        # ~0.3 µs (bench/inprocess.py, GET /items/42?q=x).
        if isinstance(query, (bytes, str)):
            self._data = parse_query(query, max_size=max_size, max_fields=max_fields)
        else:
            self._data = dict(query)

    def __getitem__(self, key: str) -> str:
        return self._data[key][0]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def getlist(self, key: str) -> list[str]:
        """Every value of ``key``, or an empty list."""
        return list(self._data.get(key, ()))

    def multi_items(self) -> list[tuple[str, str]]:
        return [(k, v) for k, values in self._data.items() for v in values]

    def __repr__(self) -> str:
        return f"QueryParams({self.multi_items()!r})"


def parse_cookies(header: str) -> dict[str, str]:
    """Parse a ``Cookie`` header leniently; a malformed pair is skipped, never an error.

    >>> parse_cookies('a=1; b="two"; junk')
    {'a': '1', 'b': 'two'}
    """
    cookies: dict[str, str] = {}
    for chunk in header.split(";"):
        name, sep, value = chunk.partition("=")
        name = name.strip()
        if not sep or not name:
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if name not in cookies:
            cookies[name] = unquote(value) if "%" in value else value
    return cookies


class URL:
    """The request URL, split into its parts.

    >>> u = URL("https", "example.com", "/a b", "x=1")
    >>> str(u), u.path
    ('https://example.com/a%20b?x=1', '/a b')
    """

    __slots__ = ("netloc", "path", "query", "scheme")

    def __init__(self, scheme: str, netloc: str, path: str, query: str = "") -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.path = path
        self.query = query

    @property
    def hostname(self) -> str:
        host = self.netloc.rsplit("@", 1)[-1]
        if host.startswith("["):
            return host[1 : host.find("]")]
        return host.split(":", 1)[0]

    def replace(self, **parts: str) -> URL:
        values = {name: getattr(self, name) for name in self.__slots__}
        values.update(parts)
        return URL(**values)

    def __str__(self) -> str:
        url = f"{self.scheme}://{self.netloc}{quote(self.path)}"
        return f"{url}?{self.query}" if self.query else url

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def __repr__(self) -> str:
        return f"URL({str(self)!r})"


class State:
    """An attribute namespace: ``request.state.user = ...``; unknown names raise."""

    def __init__(self, data: MutableMapping[str, Any] | None = None) -> None:
        object.__setattr__(self, "_data", {} if data is None else data)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._data[name]
        except KeyError:
            raise AttributeError(f"state has no attribute {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._data[name] = value

    def __delattr__(self, name: str) -> None:
        del self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data
