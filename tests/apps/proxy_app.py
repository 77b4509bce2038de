"""Says what it sees of the client: for the proxy-header tests under real servers."""

from __future__ import annotations

from carafe import Carafe, Request

app = Carafe(docs=None)


@app.get("/where")
async def where(request: Request) -> dict[str, str | None]:
    client = request.client
    return {
        "client": client.host if client else None,
        "url": str(request.url),
        "link": request.url_for("where"),
    }
