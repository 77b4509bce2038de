"""Editing raw ASGI header lists (``[(b"name", b"value"), ...]``) in place, for middleware."""

from __future__ import annotations

__all__ = ["Header", "add_vary", "get_header", "replace_header"]

Header = tuple[bytes, bytes]


def get_header(headers: list[Header], name: bytes) -> bytes | None:
    """The first value of ``name`` (lowercase), or None."""
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def replace_header(headers: list[Header], name: bytes, value: bytes | None) -> None:
    """Drop every ``name`` (lowercase) header, then add ``name: value`` unless it is None."""
    headers[:] = [(k, v) for k, v in headers if k.lower() != name]
    if value is not None:
        headers.append((name, value))


def add_vary(headers: list[Header], value: bytes) -> None:
    """Add ``value`` to the ``Vary`` header once (case-insensitive); ``Vary: *`` stays."""
    for index, (key, current) in enumerate(headers):
        if key.lower() == b"vary":
            names = [part.strip().lower() for part in current.split(b",")]
            if value.lower() not in names and b"*" not in names:
                headers[index] = (key, current + b", " + value)
            return
    headers.append((b"vary", value))
