"""``Database``: SQLAlchemy engines opened and closed with the app, one session per request.

How a request uses it: a handler (or dependency) that takes an ``AsyncSession`` (or, in a
sync handler, a ``sqlalchemy.orm.Session``) gets one session for the whole request. The
session is a ``scope="function"`` dependency (``Registry.provide(dependency=...)``): once
the handler returns, the transaction is committed *before* the response is sent, so a
commit that fails becomes the response; any error rolls it back. A database that cannot
be reached is a 503 with ``Retry-After``, logged once per request on ``carafe.db`` with
the password masked, never a traceback to the client.

Per app, ``Database`` keeps the engines it opened in its lifespan, so one ``Database``
object may serve an app made by a factory again and again (tests do that).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import MetaData, event, exc
from sqlalchemy.engine import URL, Engine, make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session, sessionmaker

from carafe.exceptions import ConfigurationError, HTTPError
from carafe.requests import Request

if TYPE_CHECKING:
    from carafe.app import Carafe
    from carafe.extensions import Registry

__all__ = ["DEFAULT_POOL", "Database", "database_urls", "engine_options", "mask_url"]

logger = logging.getLogger("carafe.db")

DEFAULT_URL = "sqlite:///app.db"
"""The database an app gets when neither ``url=`` nor ``DATABASE_URL`` names one."""

# Which driver each backend uses when the URL names none, for the async and sync engine,
# and the sync twin of each async driver (Alembic and sync handlers need one).
_ASYNC_DEFAULT = {"sqlite": "aiosqlite", "postgresql": "asyncpg", "mysql": "aiomysql"}
_SYNC_DEFAULT = {"sqlite": "pysqlite", "postgresql": "psycopg", "mysql": "pymysql"}
_SYNC_TWIN = {"aiosqlite": "pysqlite", "asyncpg": "psycopg", "aiomysql": "pymysql"}
_ASYNC_DRIVERS = {"aiosqlite", "asyncpg", "psycopg", "aiomysql", "asyncmy"}

DEFAULT_POOL: Mapping[str, Any] = {"pool_size": 15, "max_overflow": 0}
"""The pool of a server database (not SQLite) when ``engine_options`` does not size it:
15 connections at most per process, as SQLAlchemy's default allows, but all of them
kept open once opened. SQLAlchemy keeps 5 and closes the other 10 as they come back:
under 32 concurrent requests that opened about 400 PostgreSQL connections in 10 s
(bench/conduit.py, every app alike), each a new server process on the database's
side and a login and type set-up on ours."""

_READING = frozenset({"GET", "HEAD", "OPTIONS"})
_BEGIN_OPTION = "carafe_sqlite_begin"

_UNAVAILABLE = "The database is unavailable right now; try again shortly."


def mask_url(url: str | URL) -> str:
    """``url`` with its password hidden, for logs and error messages.

    >>> mask_url("postgresql://app:s3cret@db:5432/shop")
    'postgresql://app:***@db:5432/shop'
    """
    return make_url(url).render_as_string(hide_password=True)


_POOL_KEYS = frozenset({"pool_size", "max_overflow", "poolclass", "pool"})


def engine_options(url: URL, given: Mapping[str, Any]) -> dict[str, Any]:
    """The engine's options: ``given``, plus ``DEFAULT_POOL`` for a server database
    whose pool ``given`` leaves alone. Naming any of ``pool_size``, ``max_overflow``,
    ``poolclass`` or ``pool`` takes the pool over, with SQLAlchemy's defaults for the
    rest."""
    if url.get_backend_name() == "sqlite" or _POOL_KEYS & given.keys():
        return dict(given)
    return {**DEFAULT_POOL, **given}


def database_urls(url: str | URL) -> tuple[URL, URL]:
    """The async and the sync engine's URLs for one database.

    A URL without a driver gets the usual one for each side; an async driver's sync twin
    is the same server through a sync driver.

    Examples:
        >>> [str(u) for u in database_urls("postgresql://app@db/shop")]
        ['postgresql+asyncpg://app@db/shop', 'postgresql+psycopg://app@db/shop']
        >>> [str(u) for u in database_urls("sqlite+aiosqlite:///app.db")]
        ['sqlite+aiosqlite:///app.db', 'sqlite+pysqlite:///app.db']
    """
    given = make_url(url)
    backend, driver = given.get_backend_name(), given.drivername.partition("+")[2]
    if not driver:
        if backend not in _ASYNC_DEFAULT:
            raise ConfigurationError(
                f"No default drivers for {backend!r} databases: name one in the URL, "
                f"e.g. {backend}+DRIVER://..."
            )
        driver_async, driver_sync = _ASYNC_DEFAULT[backend], _SYNC_DEFAULT[backend]
    elif driver in _ASYNC_DRIVERS:
        driver_async, driver_sync = driver, _SYNC_TWIN.get(driver, driver)
    else:  # a sync driver named: the async side uses the backend's usual async driver
        driver_async, driver_sync = _ASYNC_DEFAULT.get(backend, driver), driver
    return (
        given.set(drivername=f"{backend}+{driver_async}"),
        given.set(drivername=f"{backend}+{driver_sync}"),
    )


@dataclasses.dataclass
class _Bound:
    """What one running app's database is: its engines and how sessions are made."""

    url: URL
    sync_url: URL
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    writing: async_sessionmaker[AsyncSession]  # for POST, PUT, PATCH, DELETE
    outer: AsyncConnection | None = None  # rolled_back(): every session joins it
    sync_engine: Engine | None = None
    sync_sessions: sessionmaker[Session] | None = None
    sync_writing: sessionmaker[Session] | None = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)


class Database:
    """An extension: SQLAlchemy for one app, from configuration to per-request sessions.

    Args:
        metadata: The models' ``MetaData`` (``Base.metadata``): what ``create_all``
            creates and ``carafe db revision --autogenerate`` compares against.
        url: The database; default ``app.config[config_key]``, else ``DEFAULT_URL``
            (SQLite in ``app.db`` in the working directory). ``postgresql://`` uses
            asyncpg (and psycopg for sync code), ``sqlite://`` aiosqlite.
        config_key: The ``app.config`` key read for the URL.
        engine_options: Passed to ``create_async_engine`` (``pool_size=``, ``echo=``);
            a server database's pool is ``DEFAULT_POOL`` unless these size it.
        check_on_startup: Connect once at startup, so a database that is down (or a
            wrong URL) stops the app with one clear line instead of failing requests.
        migrations: The Alembic folder ``carafe db`` uses (default ``migrations``).

    SQLite connections enforce foreign keys and get real ``SAVEPOINT`` support (the
    driver's own transaction handling is turned off; SQLAlchemy emits ``BEGIN``).
    """

    def __init__(
        self,
        metadata: MetaData | None = None,
        *,
        url: str | URL | None = None,
        config_key: str = "DATABASE_URL",
        engine_options: Mapping[str, Any] | None = None,
        check_on_startup: bool = True,
        migrations: str = "migrations",
    ) -> None:
        self.metadata = metadata if metadata is not None else MetaData()
        self._url = url
        self.config_key = config_key
        self.engine_options = dict(engine_options or {})
        self.check_on_startup = check_on_startup
        self.migrations = migrations
        self._bound: dict[int, _Bound] = {}
        self._rolled_back = 0

    def install(self, registry: Registry) -> None:
        registry.provide(AsyncSession, dependency=self._request_session, scope="function")
        registry.provide(Session, dependency=self._request_sync_session, scope="function")
        registry.lifespan(self._running)
        from carafe.db.migrations import db_command

        registry.command(db_command(self))

    # --- Configuration ---------------------------------------------------------------

    def url_for(self, app: Carafe) -> URL:
        """The async engine's URL for ``app`` (the constructor's, the config's, or the
        default), with its driver filled in."""
        return database_urls(self._configured_url(app))[0]

    def sync_url_for(self, app: Carafe) -> URL:
        """The same database through a sync driver: for Alembic and sync handlers."""
        return database_urls(self._configured_url(app))[1]

    def _configured_url(self, app: Carafe) -> str | URL:
        url = self._url or app.config.get(self.config_key) or DEFAULT_URL
        try:
            make_url(url)
        except exc.ArgumentError:
            raise ConfigurationError(
                f"{self.config_key} is not a database URL (dialect+driver://user@host/db)"
            ) from None
        return url

    # --- Lifespan --------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _running(self, app: Carafe) -> AsyncIterator[None]:
        url, sync_url = database_urls(self._configured_url(app))
        try:
            engine = create_async_engine(url, **engine_options(url, self.engine_options))
        except (ImportError, exc.ArgumentError) as error:
            raise ConfigurationError(f"Cannot open the database {mask_url(url)}: {error}") from None
        _prepare_engine(engine.sync_engine)
        bound = _Bound(url, sync_url, engine, _sessions(engine), _sessions(_writer(engine)))
        try:
            if self.check_on_startup:
                await self._check(engine)
            if self._rolled_back:
                bound.outer = await engine.connect()
                await bound.outer.begin()
                bound.sessions = _sessions(bound.outer, join_transaction_mode="create_savepoint")
                bound.writing = bound.sessions
            self._bound[id(app)] = bound
            yield
        finally:
            self._bound.pop(id(app), None)
            if bound.outer is not None:
                await bound.outer.rollback()
                await bound.outer.close()
            await engine.dispose()
            if bound.sync_engine is not None:
                bound.sync_engine.dispose()

    async def _check(self, engine: AsyncEngine) -> None:
        try:
            async with engine.connect():
                pass
        except (TimeoutError, exc.DBAPIError, OSError) as error:
            reason = _first_line(error)
            raise ConfigurationError(
                f"Cannot connect to the database {mask_url(engine.url)}: {reason}"
            ) from None

    # --- Sessions --------------------------------------------------------------------

    def _bound_for(self, app: Carafe) -> _Bound:
        bound = self._bound.get(id(app))
        if bound is None:
            raise RuntimeError(
                "The database is used before the app started: run the app (or enter "
                "`with TestClient(app)`), or use `async with db.session(app)` once it runs"
            )
        return bound

    @property
    def engine(self) -> AsyncEngine:
        """The async engine of the one running app this ``Database`` serves."""
        if len(self._bound) != 1:
            raise RuntimeError("db.engine needs exactly one running app; use db.engine_for(app)")
        return next(iter(self._bound.values())).engine

    def engine_for(self, app: Carafe) -> AsyncEngine:
        """The async engine ``app`` opened at startup."""
        return self._bound_for(app).engine

    @contextlib.asynccontextmanager
    async def session(self, app: Carafe) -> AsyncIterator[AsyncSession]:
        """A session outside a request (a job, a command, a test's setup): committed
        when the block ends, rolled back if it raises."""
        async with self._bound_for(app).sessions() as session, session.begin():
            yield session

    async def _request_session(self, request: Request) -> AsyncIterator[AsyncSession]:
        bound = self._bound_for(request.app)
        session = (bound.sessions if request.method in _READING else bound.writing)()
        try:
            yield session
            if session.in_transaction():
                await session.commit()
        except Exception as error:
            await _quietly(session.rollback())
            if _unavailable(error):
                raise self._unavailable_error(request.app, error) from None
            raise
        finally:
            if session.in_transaction():  # an error left it open: closing rolls back
                await _quietly(session.close())
            else:
                # PERF: no transaction, no connection: closing only detaches the objects,
                # without the ~30 µs trip through SQLAlchemy's greenlet bridge that
                # `await session.close()` takes (bench/db_integration.py).
                session.sync_session.close()

    def _request_sync_session(self, request: Request) -> Iterator[Session]:
        reading, writing = self._sync_sessions(request.app)
        session = (reading if request.method in _READING else writing)()
        try:
            yield session
            if session.in_transaction():
                session.commit()
        except Exception as error:
            with contextlib.suppress(Exception):
                session.rollback()
            if _unavailable(error):
                raise self._unavailable_error(request.app, error) from None
            raise
        finally:
            with contextlib.suppress(Exception):
                session.close()

    def _sync_sessions(self, app: Carafe) -> tuple[sessionmaker[Session], sessionmaker[Session]]:
        bound = self._bound_for(app)
        with bound.lock:  # sync handlers run in threads: one engine however many ask
            if bound.sync_sessions is None or bound.sync_writing is None:
                from sqlalchemy import create_engine

                options = engine_options(bound.sync_url, self.engine_options)
                engine = bound.sync_engine = create_engine(bound.sync_url, **options)
                _prepare_engine(engine)
                bound.sync_sessions = sessionmaker(engine, expire_on_commit=False)
                bound.sync_writing = sessionmaker(_writer(engine), expire_on_commit=False)
            return bound.sync_sessions, bound.sync_writing

    def _unavailable_error(self, app: Carafe, error: BaseException) -> HTTPError:
        url = self._bound[id(app)].url if id(app) in self._bound else "the database"
        logger.warning("database unavailable (%s): %s", mask_url(url), _first_line(error))
        return HTTPError(503, _UNAVAILABLE, {"Retry-After": "5"})

    # --- Schema ----------------------------------------------------------------------

    async def create_all(self, app: Carafe) -> None:
        """Create the metadata's missing tables (a quick start or a test; use
        ``carafe db upgrade`` for a schema that changes)."""
        await self._run_ddl(app, self.metadata.create_all)

    async def drop_all(self, app: Carafe) -> None:
        """Drop the metadata's tables."""
        await self._run_ddl(app, self.metadata.drop_all)

    async def _run_ddl(self, app: Carafe, ddl: Any) -> None:
        bound = self._bound_for(app)
        if bound.outer is not None:  # inside rolled_back(): undone with everything else
            async with bound.outer.begin_nested():
                await bound.outer.run_sync(ddl)
            return
        async with bound.engine.begin() as connection:
            await connection.run_sync(ddl)

    # --- Testing ---------------------------------------------------------------------

    @contextlib.contextmanager
    def rolled_back(self) -> Iterator[None]:
        """Apps started inside the block do all their work in one transaction that is
        rolled back when they stop: each test sees the database as it was.

        Every ``AsyncSession`` a request gets (and ``db.session(app)``) joins that outer
        transaction; its own commits become savepoints. Requests then share one
        connection, so use it with the in-process test clients, not a server under load.
        """
        self._rolled_back += 1
        try:
            yield
        finally:
            self._rolled_back -= 1


def _sessions(bind: AsyncEngine | AsyncConnection, **options: Any) -> async_sessionmaker[Any]:
    # NOTE: the response is rendered after the commit: attributes must stay loaded.
    return async_sessionmaker(bind, expire_on_commit=False, **options)


def _writer(engine: Any) -> Any:
    """The engine a request that may write uses: on SQLite, one that takes the write lock
    when its transaction begins (see ``_prepare_engine``); elsewhere the engine itself."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_BEGIN_OPTION: "BEGIN IMMEDIATE"})


def _prepare_engine(engine: Engine) -> None:
    """SQLite as an application needs it: foreign keys on, write-ahead logging (readers
    and a writer do not block each other), and transactions that SQLAlchemy begins
    (SAVEPOINT works). A request that may write (``POST``, ``PUT``, ``PATCH``,
    ``DELETE``) begins with ``BEGIN IMMEDIATE``: it waits its turn for the write lock
    (the driver's busy timeout, 5 s) instead of failing with "database is locked" when
    two requests that read first then both try to write."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _connected(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # the driver no longer BEGINs on its own
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")  # ":memory:" stays "memory": harmless
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        connection.exec_driver_sql(connection.get_execution_options().get(_BEGIN_OPTION, "BEGIN"))


def _unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached (not that a query is wrong)."""
    if isinstance(error, exc.DBAPIError) and error.connection_invalidated:
        return True
    if isinstance(error, exc.TimeoutError | exc.DisconnectionError | OSError):
        return True  # the pool's timeout; a connection refused while connecting
    if isinstance(error, exc.InterfaceError):
        return True
    if isinstance(error, exc.OperationalError):
        text = str(error.orig).lower()
        if "sqlite" in type(error.orig).__module__:
            return any(word in text for word in ("locked", "unable to open", "disk i/o"))
        return True  # PostgreSQL, MySQL: connection failures, server shutting down
    return False


async def _quietly(action: Any) -> None:
    """Await a rollback or close that may fail because the database went away."""
    with contextlib.suppress(Exception):
        await action


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error) or type(error).__name__
    return text.strip().splitlines()[0]
