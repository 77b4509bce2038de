"""A small Flask shop: the app docs/coming-from-flask.md ports to Carafe (port_flask_after.py).

A JSON API over a dict of items (list with a filter, read, create), a cart kept in the
session with a flash message and a template, and a header added to every response.
tests/test_ports.py sends the same requests to both and compares the answers.
"""

from pathlib import Path
from typing import Any

from flask import Flask, abort, flash, jsonify, redirect, render_template, request, session

app = Flask(__name__, template_folder=str(Path(__file__).parent / "port_templates"))
app.secret_key = "change me"
ITEMS: dict[int, dict[str, Any]] = {1: {"id": 1, "name": "cup", "price": 3.0}}


@app.get("/items")
def list_items() -> Any:
    max_price = request.args.get("max_price", type=float)
    items = [i for i in ITEMS.values() if max_price is None or i["price"] <= max_price]
    return jsonify(items)


@app.get("/items/<int:item_id>")
def read_item(item_id: int) -> Any:
    if item_id not in ITEMS:
        abort(404, description=f"No item {item_id}")
    return ITEMS[item_id]


@app.post("/items")
def create_item() -> Any:
    data = request.get_json(silent=True) or {}
    name, price = data.get("name"), data.get("price")
    if not isinstance(name, str) or not isinstance(price, int | float):
        abort(400, description="name (a string) and price (a number) are required")
    item = {"id": max(ITEMS) + 1, "name": name, "price": float(price)}
    ITEMS[item["id"]] = item
    return item, 201


@app.route("/cart", methods=["GET", "POST"])
def cart() -> Any:
    if request.method == "POST":
        session["count"] = session.get("count", 0) + 1
        flash("Added to the cart.")
        return redirect("/cart", 303)
    return render_template("cart.html", count=session.get("count", 0))


@app.errorhandler(400)
@app.errorhandler(404)
def error(exc: Any) -> Any:
    return {"error": exc.description}, exc.code


@app.after_request
def served_by(response: Any) -> Any:
    response.headers["x-served-by"] = "shop"
    return response
