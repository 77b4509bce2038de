"""port_flask_before.py, ported to Carafe: the same routes, and the same answers.

The changes: parameters in the signature instead of ``request.args`` and
``request.get_json()`` (a model checks the body), ``HTTPError`` for ``abort``, the session
and ``flash`` by name, and the template rendered with the request. The 404 handler
keeps the Flask app's ``{"error": ...}`` body, so its clients see no change; a bad body
becomes Carafe's 422 with every error listed, instead of the hand-written 400.
"""

from pathlib import Path

import msgspec

from carafe import (
    Carafe,
    HTTPError,
    JSONResponse,
    RedirectResponse,
    Request,
    Response,
    Session,
    Templates,
    flash,
)

app = Carafe(secret_key="change me")
templates = Templates(Path(__file__).parent / "port_templates")


class NewItem(msgspec.Struct):
    name: str
    price: float


class Item(msgspec.Struct):
    id: int
    name: str
    price: float


ITEMS: dict[int, Item] = {1: Item(1, "cup", 3.0)}


@app.get("/items")
def list_items(max_price: float | None = None) -> list[Item]:
    return [i for i in ITEMS.values() if max_price is None or i.price <= max_price]


@app.get("/items/{item_id}")
def read_item(item_id: int) -> Item:
    if item_id not in ITEMS:
        raise HTTPError(404, f"No item {item_id}")
    return ITEMS[item_id]


@app.post("/items", status_code=201)
def create_item(new: NewItem) -> Item:
    item = Item(max(ITEMS) + 1, new.name, new.price)
    ITEMS[item.id] = item
    return item


@app.route("/cart", methods=["GET", "POST"])
async def cart(request: Request, session: Session) -> Response:
    if request.method == "POST":
        session["count"] = session.get("count", 0) + 1
        flash(session, "Added to the cart.")
        return RedirectResponse("/cart", 303)
    return await templates.render(request, "cart.html", count=session.get("count", 0))


@app.exception_handler(404)
async def not_found(request: Request, exc: HTTPError) -> JSONResponse:
    return JSONResponse({"error": exc.detail}, 404)


@app.after_request
def served_by(request: Request, response: Response) -> None:
    response.headers["x-served-by"] = "shop"
