"""SQLAlchemy 2 for Carafe apps: an engine opened and closed with the app, a session per
request committed before the response, and ``carafe db`` migrations on Alembic.

::

    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.orm import DeclarativeBase

    class Base(DeclarativeBase): ...

    db = Database(Base.metadata)          # DATABASE_URL from app.config, else SQLite
    app = Carafe(extensions=[db])

    @app.post("/notes")
    async def add(note: NoteIn, session: AsyncSession) -> NoteOut:
        session.add(Note(text=note.text))  # committed before the 201 is sent
        ...

Needs the ``db`` extra (``pip install carafe[db]``; ``carafe[postgres]`` adds asyncpg
and psycopg). See docs/database.md and docs/migrations.md.
"""

from carafe.db._database import DEFAULT_POOL, Database, database_urls, engine_options, mask_url

__all__ = ["DEFAULT_POOL", "Database", "database_urls", "engine_options", "mask_url"]
