"""An app with Prometheus metrics, served by the multi-worker metrics test."""

from __future__ import annotations

import asyncio
import itertools
import os
from pathlib import Path

from carafe import Carafe
from carafe.middleware import MetricsMiddleware

app = Carafe(docs=None)
app.add_middleware(MetricsMiddleware)


@app.get("/items/{item_id}")
async def read_item(item_id: int) -> dict[str, int]:
    return {"id": item_id, "pid": os.getpid()}


@app.get("/metrics-dir")
async def metrics_dir() -> dict[str, str | None]:
    return {"dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR")}


@app.get("/hold")
async def hold() -> dict[str, int]:
    """Answers once the file ``$HOLD_DIR/release`` exists; while it waits,
    ``$HOLD_DIR/held-<pid>-<n>`` says which worker holds it."""
    directory = Path(os.environ["HOLD_DIR"])
    mark = directory / f"held-{os.getpid()}-{next(_held)}"
    mark.touch()
    while not (directory / "release").exists():
        await asyncio.sleep(0.02)
    mark.unlink()
    return {"pid": os.getpid()}


_held = itertools.count()
