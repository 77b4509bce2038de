"""An app with a bug, for the debug page's screenshot (scripts/screenshots.py).

    carafe run docs.examples.debug_demo:app --debug

then open http://127.0.0.1:8000/orders/7/average: the average of an order with no lines
divides by zero, and with ``--debug`` a browser on this machine gets the debug page.
"""

import msgspec

from carafe import Carafe, HTTPError


class Line(msgspec.Struct):
    product: str
    price: float


ORDERS: dict[int, list[Line]] = {
    1: [Line("teapot", 24.0), Line("cup", 6.5)],
    7: [],  # an order whose lines were all removed
}

app = Carafe(title="Orders")


def average_price(lines: list[Line]) -> float:
    total = sum(line.price for line in lines)
    return total / len(lines)


@app.get("/orders/{order_id}/average")
def order_average(order_id: int) -> dict[str, float]:
    lines = ORDERS.get(order_id)
    if lines is None:
        raise HTTPError(404, f"No order {order_id}")
    return {"average": average_price(lines)}
