"""The Conduit app: ``create_app(config)``, and ``app`` for ``carafe run``.

::

    carafe --app examples.conduit.app:app db upgrade      # the schema, by migrations
    CARAFE_SECRET_KEY=... carafe run examples.conduit.app:app

Configuration (``config=``, else ``CARAFE_*`` environment variables):

- ``DATABASE_URL``: default ``sqlite:///conduit.db`` in the working directory;
  ``postgresql://user@host/db`` works as well.
- ``CORS_ORIGINS``: the origins a browser front end may call the API from, a list or
  a comma-separated string (``CARAFE_CORS_ORIGINS=http://localhost:4200``); none by
  default.
- ``JWT_SECRET`` (else ``SECRET_KEY``): signs the tokens; at least 32 bytes, else a
  ``ConfigurationError``. Without either, a development key is used and a warning says
  so: tokens are then forgeable by anyone who reads this.
- ``REDIS_URL``: a Redis every worker shares (``redis://host:6379/0``) for the sign-in
  limit (10 tries a minute per client), the ``GET /api/tags`` cache (30 s) and the
  comment stream (``GET /api/articles/{slug}/comments/events``); see
  ``examples.conduit.sharing``. Without it each process keeps them in its own memory.
- ``CACHE_TAGS``: ``false`` answers every ``GET /api/tags`` from the database (the
  tests that count tags right after writing them); cached by default.
- ``SESSION_REDIS_URL``: where the pages keep their sessions (see ``pages``); in
  memory without it. On several workers or hosts set both, and one ``SECRET_KEY``.

On several hosts behind a load balancer (tests/test_conduit_cluster.py runs it so,
behind HAProxy), every host needs the same ``DATABASE_URL`` (PostgreSQL),
``REDIS_URL``, ``SESSION_REDIS_URL`` and ``SECRET_KEY``, and ``--trusted-proxy`` naming
the balancer, so that the sign-in limit counts each client, not the balancer.

NOTE: SQLite, the default, takes one writer at a time: carafe.db begins the transaction
of each POST, PUT and DELETE with ``BEGIN IMMEDIATE``, so concurrent writers wait their
turn (up to 5 s) rather than fail; PostgreSQL for many concurrent users.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from carafe import Carafe, ConfigurationError
from carafe.db import Database
from carafe.middleware import CORSMiddleware
from examples.conduit.api import install
from examples.conduit.models import Base
from examples.conduit.pages import install_pages
from examples.conduit.sharing import share

__all__ = ["DEFAULT_DATABASE_URL", "app", "create_app", "db"]

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
DEFAULT_DATABASE_URL = "sqlite:///conduit.db"
DEV_SECRET = "conduit-development-key-not-for-production"
MIN_SECRET_BYTES = 32

logger = logging.getLogger("examples.conduit")

db = Database(Base.metadata, migrations=MIGRATIONS)
"""Conduit's database; ``db.session(app)`` outside a request, ``db.create_all(app)``."""


def _jwt_secret(app: Carafe) -> str:
    for key in ("JWT_SECRET", "SECRET_KEY"):
        value = app.config.get(key)
        if isinstance(value, list | tuple) and value:
            value = value[0]
        if isinstance(value, str) and value:
            if len(value.encode()) < MIN_SECRET_BYTES:
                raise ConfigurationError(
                    f"{key} is {len(value.encode())} bytes; HS256 tokens need a key of at "
                    f"least {MIN_SECRET_BYTES} (RFC 7518, section 3.2)"
                )
            return value
    logger.warning(
        "Conduit: no JWT_SECRET or SECRET_KEY configured; tokens are signed with a "
        "development key anyone can read (set CARAFE_SECRET_KEY)"
    )
    return DEV_SECRET


def create_app(config: dict[str, Any] | None = None) -> Carafe:
    """A Conduit app; ``config`` overrides the ``CARAFE_*`` environment."""
    app = Carafe(
        title="Conduit",
        version="1.0.0",
        description="The RealWorld example app's API, on Carafe.",
        extensions=[db],
    )
    app.config.from_prefixed_env()
    app.config.update(config or {})
    app.config.setdefault("DATABASE_URL", DEFAULT_DATABASE_URL)
    app.config["JWT_SECRET"] = _jwt_secret(app)
    share(app)  # sign-in limit, tags cache, comment feed: in Redis with REDIS_URL
    origins = app.config.get("CORS_ORIGINS") or []
    if isinstance(origins, str):
        origins = [origin.strip() for origin in origins.split(",") if origin.strip()]
    if origins:  # a RealWorld front end served from another origin
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )
    install(app)
    install_pages(app)  # the server-rendered pages (examples/conduit/pages.py)
    return app


app = create_app()
