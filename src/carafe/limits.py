"""``Limits``: the finite bounds on what a request may make the server hold.

One object, accepted by the app, a router and a route; a route's values win over its
router's, which win over the app's. Fields left ``None`` inherit.

    app = Carafe(limits=Limits(max_body_size=4 * MiB))

    @app.post("/upload", limits=Limits(max_body_size=64 * MiB))
    async def upload(...): ...
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["DEFAULT_LIMITS", "KiB", "Limits", "MiB"]

KiB = 1024
"""1024 bytes, for writing limits: ``Limits(max_part_size=64 * KiB)``."""
MiB = 1024 * KiB
"""1024 KiB: ``Limits(max_body_size=10 * MiB)``."""


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """Bounds on request size, counted on the bytes actually received.

    The query and header bounds are checked where Carafe parses them: the query string
    when a handler or a dependency first reads it (a ``Query`` parameter,
    ``request.query_params``), the headers when they are first read through
    ``request.headers`` (a ``Header`` or ``Cookie`` parameter, the session). A route that
    reads neither pays nothing for them. What the server itself reads before the app
    runs is the server's to bound (see docs/design.md, "Limits on what the server reads").

    Args:
        max_body_size: A body read into memory (JSON, urlencoded form): 1 MiB.
        max_form_fields: Fields in one form, files excluded: 1,000.
        max_files: Files in one multipart form: 100.
        max_part_size: One non-file multipart part, held in memory: 1 MiB.
        max_file_size: One uploaded file, spooled to disk: 1 GiB.
        max_part_header_size: The headers of one multipart part: 16 KiB.
        max_multipart_size: A whole multipart body: 4 GiB.
        max_query_size: The query string, in bytes: 32 KiB (else 414).
        max_query_fields: Fields in the query string: 1,000 (else 400).
        max_headers: Request headers, counted one per line: 100 (else 431).
        max_header_size: All request header names and values together, in bytes:
            32 KiB (else 431).
    """

    max_body_size: int | None = None
    max_form_fields: int | None = None
    max_files: int | None = None
    max_part_size: int | None = None
    max_file_size: int | None = None
    max_part_header_size: int | None = None
    max_multipart_size: int | None = None
    max_query_size: int | None = None
    max_query_fields: int | None = None
    max_headers: int | None = None
    max_header_size: int | None = None

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is not None and (not isinstance(value, int) or value < 0):
                raise ValueError(f"Limits.{field.name} must be a non-negative int, got {value!r}")

    def over(self, base: Limits) -> Limits:
        """These limits, with ``base`` filling the fields left ``None``."""
        values: dict[str, Any] = {}
        for field in dataclasses.fields(self):
            own = getattr(self, field.name)
            values[field.name] = own if own is not None else getattr(base, field.name)
        return Limits(**values)


DEFAULT_LIMITS = Limits(
    max_body_size=1 * MiB,
    max_form_fields=1000,
    max_files=100,
    max_part_size=1 * MiB,
    max_file_size=1024 * MiB,
    max_part_header_size=16 * KiB,
    max_multipart_size=4096 * MiB,
    max_query_size=32 * KiB,
    max_query_fields=1000,
    max_headers=100,
    max_header_size=32 * KiB,
)
"""The limits of an app that sets none; an app's ``limits=`` and a route's override them."""
