"""An app with Prometheus metrics, served by the multi-worker metrics test."""

from __future__ import annotations

import os

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
