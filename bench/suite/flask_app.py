"""Flask as its users write it: routes, dicts as JSON, render_template, psycopg's pool."""

from __future__ import annotations

import random
from operator import itemgetter

from flask import Flask, Response, render_template, request
from psycopg_pool import ConnectionPool

from suite.common import (
    ADDITIONAL_FORTUNE,
    DSN,
    POOL_MAX,
    POOL_MIN,
    SELECT_WORLD_PG,
    TEMPLATES,
    UPDATE_WORLD_PG,
    clamp_queries,
)  # fmt: skip

TESTS = {"json", "plaintext", "db", "queries", "fortunes", "updates", "post", "io"}
NOT_APPLICABLE = {"deps": "Flask has no dependency injection"}

app = Flask(__name__, template_folder=str(TEMPLATES))
# Opened in each worker on import (gunicorn imports the app in the worker without
# --preload); min_size connections are opened at once, up to POOL_MAX on demand.
pool = ConnectionPool(DSN, min_size=min(POOL_MIN, 4), max_size=POOL_MAX, open=True)


def clamp() -> int:
    return clamp_queries(request.args.get("queries"))


@app.get("/json")
def json_():
    return {"message": "Hello, World!"}


@app.get("/plaintext")
def plaintext():
    return Response("Hello, World!", mimetype="text/plain")


@app.get("/db")
def db():
    with pool.connection() as conn:
        row = conn.execute(SELECT_WORLD_PG, (random.randint(1, 10000),)).fetchone()
    return {"id": row[0], "randomNumber": row[1]}


@app.get("/queries")
def queries():
    ids = random.sample(range(1, 10001), clamp())
    with pool.connection() as conn:
        rows = [conn.execute(SELECT_WORLD_PG, (i,)).fetchone() for i in ids]
    return [{"id": r[0], "randomNumber": r[1]} for r in rows]


@app.get("/fortunes")
def fortunes():
    with pool.connection() as conn:
        rows = [*conn.execute("SELECT id, message FROM fortune").fetchall(), ADDITIONAL_FORTUNE]
    rows.sort(key=itemgetter(1))
    return render_template("fortunes.html", fortunes=rows)


@app.get("/updates")
def updates():
    ids = sorted(random.sample(range(1, 10001), clamp()))
    worlds = []
    with pool.connection() as conn:
        for i in ids:
            conn.execute(SELECT_WORLD_PG, (i,)).fetchone()
            worlds.append({"id": i, "randomNumber": random.randint(1, 10000)})
        with conn.cursor() as cur:
            cur.executemany(UPDATE_WORLD_PG, [(w["randomNumber"], w["id"]) for w in worlds])
    return worlds


def _invalid(msg: str):
    return {"detail": msg}, 422


@app.post("/items")
def create_item():
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        return _invalid("body must be a JSON object")
    name, price, tags = data.get("name"), data.get("price"), data.get("tags", [])
    if not isinstance(name, str):
        return _invalid("name must be a string")
    if isinstance(price, bool) or not isinstance(price, int | float):
        return _invalid("price must be a number")
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return _invalid("tags must be a list of strings")
    return {"name": name, "price": float(price), "tags": tags}, 201


@app.get("/io")
def io():
    with pool.connection() as conn:
        conn.execute("SELECT pg_sleep(0.02)")
    return {"waited_ms": 20}
