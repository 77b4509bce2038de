"""Per-request objects are slotted: no __dict__ to allocate per request."""

from __future__ import annotations

import pytest

from carafe.datastructures import URL, Address, Headers, QueryParams
from carafe.requests import Request
from carafe.routing.paths import PathTemplate

SCOPE = {"type": "http", "method": "GET", "path": "/", "headers": [], "query_string": b""}


@pytest.mark.parametrize(
    "instance",
    [
        Request(SCOPE),
        Headers([]),
        QueryParams(b""),
        URL("http", "h", "/"),
        Address("h", 1),
        PathTemplate("/a/{b}"),
    ],
    ids=lambda obj: type(obj).__name__,
)
def test_no_instance_dict(instance: object) -> None:
    assert not hasattr(instance, "__dict__")
