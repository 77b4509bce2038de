"""A small app on ``carafe.db``: notes in a table, async and sync handlers, a failing commit."""

from __future__ import annotations

import msgspec
from sqlalchemy import ForeignKey, String, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from carafe import Carafe, HTTPError
from carafe.db import Database


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(200), unique=True)


class Tag(Base):
    __tablename__ = "tags"
    id: Mapped[int] = mapped_column(primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("notes.id"))


class NoteIn(msgspec.Struct):
    text: str


class NoteOut(msgspec.Struct):
    id: int
    text: str


db = Database(Base.metadata)


def create_app(url: str | None = None, *, create_tables: bool = True) -> Carafe:
    app = Carafe(extensions=[db], docs=None)
    if url is not None:
        app.config["DATABASE_URL"] = url
    if create_tables:

        @app.on_startup
        async def tables() -> None:
            await db.create_all(app)

    @app.post("/notes", status_code=201)
    async def add(note: NoteIn, session: AsyncSession) -> NoteOut:
        row = Note(text=note.text)
        session.add(row)
        await session.flush()  # the id, before the commit that follows the handler
        return NoteOut(row.id, row.text)

    @app.post("/notes/then-fail")
    async def add_then_fail(note: NoteIn, session: AsyncSession) -> None:
        session.add(Note(text=note.text))
        await session.flush()
        raise HTTPError(409, "changed my mind")

    @app.post("/notes/dangling-tag")
    async def dangling(session: AsyncSession) -> str:
        session.add(Tag(note_id=999_999))  # the foreign key fails at the commit
        return "written?"

    @app.get("/notes")
    async def notes(session: AsyncSession) -> list[NoteOut]:
        rows = await session.scalars(select(Note).order_by(Note.id))
        return [NoteOut(n.id, n.text) for n in rows]

    @app.get("/notes/count")
    def count(session: Session) -> int:  # a sync handler gets a sync Session
        return session.scalar(select(func.count()).select_from(Note)) or 0

    @app.post("/notes/sync", status_code=201)
    def add_sync(note: NoteIn, session: Session) -> str:
        session.add(Note(text=note.text))
        return "ok"

    return app
