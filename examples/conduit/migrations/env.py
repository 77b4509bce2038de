"""Alembic's environment for a Carafe app.

``carafe db`` runs this file with the app's database URL and models' metadata in
``config.attributes``; edit it like any Alembic env.py (add ``include_object``,
``compare_server_default`` and the like).
"""

from alembic import context
from sqlalchemy import create_engine, pool

config = context.config
url = config.attributes["carafe_url"]  # the app's database, through a sync driver
target_metadata = config.attributes["carafe_metadata"]


def run_migrations_offline() -> None:
    """``--sql``: write the SQL instead of running it."""
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.get_backend_name() == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            compare_type=True,
            # SQLite cannot ALTER most things: Alembic copies the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
