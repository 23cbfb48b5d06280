"""Alembic migrations: they build exactly the schema the models describe, on both databases."""

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from serve_app.db.migrations import current_revision, upgrade_database
from serve_app.db.session import Database


async def test_migrations_match_the_models(db):
    def diff(connection):
        return compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)

    async with db.engine.connect() as connection:
        assert await connection.run_sync(diff) == []
    assert await current_revision(db) is not None


async def test_concurrent_upgrades_from_several_replicas_are_safe(db):
    await upgrade_database(db, "base")
    others = [Database(db.url) for _ in range(3)]
    try:
        await asyncio.gather(*(upgrade_database(other) for other in others))
    finally:
        await asyncio.gather(*(other.dispose() for other in others))
    assert await current_revision(db) == await current_revision(others[0])
