"""Async engine and sessions for SQLite (the embedded default) and PostgreSQL (psycopg 3)."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar, cast

from sqlalchemy import event, text
from sqlalchemy.engine import CursorResult, Result, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlalchemy.sql.base import Executable
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.db import models  # noqa: F401  (registers the tables on SQLModel.metadata)

T = TypeVar("T")


def async_url(url: str) -> str:
    """Maps plain `sqlite:` / `postgresql:` URLs to their asyncio drivers."""
    parsed = make_url(url)
    driver = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}.get(parsed.drivername)
    return parsed.set(drivername=driver).render_as_string(hide_password=False) if driver else url


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:
        # pysqlite's own transaction handling would issue a plain BEGIN; we issue ours below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:
        # A write transaction takes the write lock up front (BEGIN IMMEDIATE): a deferred one
        # that reads and then writes can fail with "database is locked" instead of waiting.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


class Database:
    """One engine per process; `read()` for queries, `write()` for a transaction that commits."""

    def __init__(self, url: str):
        self.url = async_url(url)
        self.closed = False
        self.is_sqlite = self.url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(self.url).database
            if database and database != ":memory:":
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            self.engine = create_async_engine(self.url, connect_args={"timeout": 30})
            _configure_sqlite(self.engine)
            writer = self.engine.execution_options(sqlite_begin="IMMEDIATE")
        else:
            self.engine = create_async_engine(self.url, pool_pre_ping=True, pool_size=10)
            writer = self.engine
        self._reader = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        self._writer = async_sessionmaker(writer, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session:
            yield session

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: committed on exit, rolled back on error."""
        async with self._writer() as session, session.begin():
            yield session

    async def check(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        self.closed = True
        await self.engine.dispose()


async def core(session: AsyncSession, statement: Executable, parameters: Any = None) -> Result[Any]:
    """Runs a Core statement (with `parameters`, one dict or a list of them, for a statement built
    once with bind parameters) on the session's connection, inside its transaction (and savepoint).
    The hot path builds its statements once: building one costs more CPU than running it.

    For the ledger's hot path: the ORM's handling of a statement (identity-map sync, autoflush,
    sqlmodel's warning) costs more CPU than the statement itself. Only for statements whose
    rows no ORM object in the session is read back from, and after anything pending is flushed."""
    # One hop into SQLAlchemy's greenlet for both the connection and the statement.
    return await session.run_sync(lambda sync: sync.connection().execute(statement, parameters))


def rows_affected(result: Result[Any]) -> int:
    """The rows an UPDATE or DELETE matched: executing one returns a CursorResult, which
    sqlmodel's AsyncSession.execute annotates as a plain Result."""
    return cast(CursorResult[Any], result).rowcount


async def undone_if_cancelled(write: Coroutine[Any, Any, T], undo: Callable[[T], Awaitable[None]]) -> T:
    """`write`'s result; when the caller is cancelled meanwhile, `write` is let finish and `undo`
    is applied to its result before the cancellation goes on.

    For claims (a lock row, a key): the driver commits in its own thread or on the server, so a
    transaction cancelled while it commits can land all the same, and a claim nobody holds then
    blocks everyone until its lease lapses."""
    attempt = asyncio.ensure_future(write)
    try:
        return await asyncio.shield(attempt)
    except asyncio.CancelledError:
        outcome = (await asyncio.gather(attempt, return_exceptions=True))[0]
        if not isinstance(outcome, BaseException):
            await asyncio.shield(undo(outcome))
        raise
