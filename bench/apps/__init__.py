"""The in-process benchmark apps: one module per framework, each written as its users would.

Each module exposes ``app`` (an ASGI callable), ``SUPPORTED`` (the case names it
serves, see ``bench/cases.py``) and ``PENDING`` (case name -> why it is not served yet).
Every app registers ``EXTRA_ROUTES`` other routes before the benchmarked ones, half
static (``/r0``, ``/r2``...) and half with a path parameter (``/r1/{id}``...), so a
router that scans linearly pays for it as it would in a real app.
"""

EXTRA_ROUTES = 100

#: Module names under ``bench/apps``, in table order.
APPS = {
    "raw": "apps.raw_app",
    "carafe": "apps.carafe_app",
    "starlette": "apps.starlette_app",
    "fastapi": "apps.fastapi_app",
    "litestar": "apps.litestar_app",
}
