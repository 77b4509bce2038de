"""The Conduit app: ``create_app(config)``, and ``app`` for ``carafe run``.

::

    carafe --app examples.conduit.app:app db upgrade      # the schema, by migrations
    CARAFE_SECRET_KEY=... carafe run examples.conduit.app:app

Configuration (``config=``, else ``CARAFE_*`` environment variables):

- ``DATABASE_URL``: default ``sqlite:///conduit.db`` in the working directory;
  ``postgresql://user@host/db`` works as well.
- ``JWT_SECRET`` (else ``SECRET_KEY``): signs the tokens. Without either, a development
  key is used and a warning says so: tokens are then forgeable by anyone who reads this.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from carafe import Carafe
from carafe.db import Database
from examples.conduit.api import install
from examples.conduit.models import Base
from examples.conduit.pages import install_pages

__all__ = ["DEFAULT_DATABASE_URL", "app", "create_app", "db"]

MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")
DEFAULT_DATABASE_URL = "sqlite:///conduit.db"
DEV_SECRET = "conduit-development-key-not-for-production"

logger = logging.getLogger("examples.conduit")

db = Database(Base.metadata, migrations=MIGRATIONS)
"""Conduit's database; ``db.session(app)`` outside a request, ``db.create_all(app)``."""


def _jwt_secret(app: Carafe) -> str:
    for key in ("JWT_SECRET", "SECRET_KEY"):
        value = app.config.get(key)
        if isinstance(value, list | tuple) and value:
            value = value[0]
        if isinstance(value, str) and value:
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
    install(app)
    install_pages(app)  # the server-rendered pages (examples/conduit/pages.py)
    return app


app = create_app()
