"""The server's storage switch: the serve config's value until an admin sets it, kept in the
database, cached per replica for a few seconds; on SQLite and PostgreSQL."""

import asyncio
import logging
from datetime import UTC, datetime

from sqlalchemy import event

from serve_app.services.server_settings import TTL_S, ServerSettings
from serve_app.services.users import find_user
from tests.factories import ManualClock, make_config, user_with_key

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def an_admin(db):
    user_id, _ = await user_with_key(db, name="root")
    return await find_user(db=db, name_or_id=str(user_id))


def replica(db, clock, *, storage: bool = True) -> ServerSettings:
    config = make_config(storage={"enabled": storage, "backend": "local", "local_dir": "/tmp/unused"})
    return ServerSettings(db=db, config=config, clock=clock)


class SettingReads:
    """Counts the queries that reach the database for the settings table."""

    def __init__(self, db):
        self.count = 0
        event.listen(db.engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, parameters, context, executemany) -> None:
        if "serversetting" in statement.lower():
            self.count += 1


async def test_until_an_admin_sets_it_the_serve_config_decides(db):
    storage = await replica(db, ManualClock(START), storage=False).storage()
    assert (storage.enabled, storage.configured, storage.changed_by) == (False, False, None)


async def test_an_admins_choice_is_kept_and_wins_over_the_config(db):
    admin = await an_admin(db)
    await replica(db, ManualClock(START), storage=False).set_storage(enabled=True, admin=admin)

    restarted = await replica(db, ManualClock(START), storage=False).storage()
    assert (restarted.enabled, restarted.configured, restarted.changed_by) == (True, False, "root")
    assert restarted.changed_at == START
    await replica(db, ManualClock(START), storage=False).set_storage(enabled=False, admin=admin)
    assert not await replica(db, ManualClock(START)).storage_enabled()


async def test_another_replica_sees_a_change_once_its_copy_is_older_than_the_ttl(db):
    admin, clock = await an_admin(db), ManualClock(START)
    here, there = replica(db, clock), replica(db, clock)
    assert await there.storage_enabled()

    await here.set_storage(enabled=False, admin=admin)
    assert not await here.storage_enabled()
    clock.advance(seconds=TTL_S - 0.5)
    assert await there.storage_enabled()
    clock.advance(seconds=0.5)
    assert not await there.storage_enabled()


async def test_requests_within_the_ttl_share_one_database_read(db):
    clock = ManualClock(START)
    settings, reads = replica(db, clock), SettingReads(db)

    await asyncio.gather(*(settings.storage_enabled() for _ in range(50)))
    assert reads.count == 1
    for _ in range(20):
        await settings.storage_enabled()
    assert reads.count == 1
    clock.advance(seconds=TTL_S)
    await settings.storage_enabled()
    assert reads.count == 2


async def test_a_clock_that_went_back_does_not_keep_an_old_copy(db):
    admin, clock = await an_admin(db), ManualClock(START)
    there = replica(db, clock)
    assert await there.storage_enabled()
    await replica(db, clock).set_storage(enabled=False, admin=admin)
    clock.advance(hours=-2)
    assert not await there.storage_enabled()


async def test_a_change_is_written_to_the_log_with_the_admin(db):
    admin = await an_admin(db)
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("ray.serve")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        await replica(db, ManualClock(START)).set_storage(enabled=False, admin=admin)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [r.getMessage() for r in records] == [
        f"audit: admin 'root' (user {admin.id}) turned server storage off (was on)"
    ]
