"""Conduit's two article reads on Flask + Flask-SQLAlchemy (psycopg), as Flask users write it."""

from __future__ import annotations

import datetime as dt
import os
from typing import Any

from examples.conduit import services
from flask import Flask, abort, request
from flask_sqlalchemy import SQLAlchemy

from carafe.db import database_urls, engine_options

app = Flask(__name__)
URL = database_urls(os.environ["CONDUIT_DATABASE_URL"])[1]
app.config["SQLALCHEMY_DATABASE_URI"] = URL
app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(URL, {})  # the pool Carafe's has
db = SQLAlchemy(app)


def iso(moment: dt.datetime) -> str:
    utc = moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)
    return utc.isoformat().replace("+00:00", "Z")


def article_json(row: Any, *, body: bool = True) -> dict[str, Any]:
    out = {
        "slug": row.slug,
        "title": row.title,
        "description": row.description,
        "tagList": sorted(row.tag_list or ()),
        "createdAt": iso(row.created_at),
        "updatedAt": iso(row.updated_at),
        "favorited": bool(row.favorited),
        "favoritesCount": int(row.favorites_count),
        "author": {
            "username": row.username,
            "bio": row.bio,
            "image": row.image,
            "following": bool(row.following),
        },
    }
    if body:
        out["body"] = row.body
    return out


def _bounded(name: str, default: int, low: int, high: int) -> int:
    try:
        value = int(request.args.get(name, default))
    except ValueError:
        abort(422)
    if not low <= value <= high:
        abort(422)
    return value


@app.get("/api/articles")
def list_articles() -> dict[str, Any]:
    limit = _bounded("limit", 20, 1, 100)
    offset = _bounded("offset", 0, 0, 2**31)
    args = request.args
    filters = {"tag": args.get("tag"), "author": args.get("author")}
    filters["favorited"] = args.get("favorited")
    page = services.article_page(None, limit=limit, offset=offset, **filters)
    connection = db.session.connection()  # column rows: the example's Core path too
    rows = connection.execute(*page).all()
    if rows:
        total = rows[0].total
    else:  # past the end: the example's fallback count
        total = connection.execute(*services.article_count(**filters)).scalar()
    articles = [article_json(row, body=False) for row in rows]
    return {"articles": articles, "articlesCount": total or 0}


@app.get("/api/articles/<slug>")
def get_article(slug: str) -> dict[str, Any]:
    row = db.session.connection().execute(*services.article_by_slug(None, slug)).first()
    if row is None:
        abort(404)
    return {"article": article_json(row)}
