"""Alembic migrations, run from code: at start for the embedded default, or `pixelray db upgrade`."""

import asyncio
import fcntl
from contextlib import nullcontext
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import make_url

from serve_app.db.session import Database

SCRIPT_LOCATION = Path(__file__).parent
# Any fixed 64-bit number: the advisory lock that keeps concurrent upgrades on PostgreSQL apart.
_PG_LOCK_ID = 7_441_203_580


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    return config


def _upgrade(connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def upgrade_database(db: Database, revision: str = "head") -> None:
    """Brings the schema to `revision`. Safe when several replicas start at once."""
    if db.is_sqlite:
        database = make_url(db.url).database or ":memory:"
        lock_path = Path(f"{database}.migrate.lock") if database != ":memory:" else None
        with open(lock_path, "w") if lock_path else nullcontext() as handle:
            if handle:
                # In a thread: a second upgrade in this process must wait without blocking the loop.
                await asyncio.to_thread(fcntl.flock, handle, fcntl.LOCK_EX)
            async with db.engine.begin() as connection:
                await connection.run_sync(_upgrade, revision)
        return
    async with db.engine.connect() as connection:
        await connection.execute(text(f"SELECT pg_advisory_lock({_PG_LOCK_ID})"))
        await connection.commit()
        try:
            async with connection.begin():
                await connection.run_sync(_upgrade, revision)
        finally:
            await connection.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK_ID})"))
            await connection.commit()


async def current_revision(db: Database) -> str | None:
    from alembic.runtime.migration import MigrationContext

    async with db.engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
