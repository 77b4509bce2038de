"""The in-process benchmark apps: one module per framework, each written as its users would.

Each module exposes ``app`` (an ASGI callable), ``SUPPORTED`` (the case names it
serves, see ``bench/cases.py``) and ``PENDING`` (case name -> why it is not served yet).
Every app registers ``EXTRA_ROUTES`` other routes before the benchmarked ones, half
static (``/r0``, ``/r2``...) and half with a path parameter (``/r1/{id}``...), so a
router that scans linearly pays for it as it would in a real app.
"""

EXTRA_ROUTES = 100


def with_cookie(app, cookie: bytes):
    """``app``, called with ``cookie`` added to the request's ``Cookie`` header.

    For the ``session_read`` case: each framework signs its own session cookie at import
    (with its own session machinery); every app pays the same tiny cost for this wrapper.
    """

    async def call(scope, receive, send):
        if scope["type"] == "http":
            scope = {**scope, "headers": [*scope["headers"], (b"cookie", cookie)]}
        await app(scope, receive, send)

    return call


def from_clients(app, count: int):
    """``app``, called with the request's client address taken from ``count`` in turn.

    For the ``ratelimit`` case (budgets are per client): every app pays the same tiny
    cost for this wrapper.
    """
    clients = [(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", 50000) for i in range(count)]
    turn = 0

    async def call(scope, receive, send):
        nonlocal turn
        if scope["type"] == "http":
            turn = (turn + 1) % count
            scope = {**scope, "client": clients[turn]}
        await app(scope, receive, send)

    return call


#: Module names under ``bench/apps``, in table order.
APPS = {
    "raw": "apps.raw_app",
    "carafe": "apps.carafe_app",
    "starlette": "apps.starlette_app",
    "fastapi": "apps.fastapi_app",
    "litestar": "apps.litestar_app",
    "flask": "apps.flask_app",
}
