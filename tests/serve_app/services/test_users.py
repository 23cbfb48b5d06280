"""Users and authentication, on SQLite and PostgreSQL."""

import pytest
from sqlalchemy import text
from sqlmodel import select

from serve_app.db.models import ApiKey
from serve_app.errors import InvalidRequest, Unauthorized
from serve_app.services import credits
from serve_app.services.admin import set_plan
from serve_app.services.keys import LOOKUP_PREFIX_LENGTH
from serve_app.services.users import (
    authenticate,
    create_key,
    create_user,
    key_cache,
    list_keys,
    revoke_key,
    set_storage_enabled,
    set_suspended,
)
from tests.factories import make_config, user_with_key


async def test_a_new_key_authenticates_its_user(db):
    user_id, key = await user_with_key(db, "alice")
    user = await authenticate(db=db, plaintext=key)
    assert (user.id, user.name) == (user_id, "alice")


async def test_a_wrong_key_with_a_valid_prefix_is_refused(db):
    _, key = await user_with_key(db)
    with pytest.raises(Unauthorized):
        await authenticate(db=db, plaintext=key[:-4] + "AAAA")


async def test_a_revoked_key_is_refused(db):
    user_id, key = await user_with_key(db)
    async with db.write() as session:
        await session.execute(
            text("UPDATE apikey SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = :u"), {"u": user_id}
        )
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(db=db, plaintext=key)


async def test_the_database_never_holds_the_plaintext_key(db):
    _, key = await user_with_key(db)
    async with db.read() as session:
        rows = (await session.execute(text("SELECT * FROM apikey"))).all()
    dump = repr(rows)
    assert key not in dump and key[LOOKUP_PREFIX_LENGTH:] not in dump


async def test_user_names_are_unique(db):
    await create_user(db=db, config=make_config(), name="bob")
    with pytest.raises(InvalidRequest, match="already exists"):
        await create_user(db=db, config=make_config(), name="bob")


async def test_a_new_user_gets_the_plans_initial_credits_in_the_ledger(db):
    created = await create_user(db=db, config=make_config(), name="carol", plan="daily")
    assert created.user.balance == 1000
    assert await credits.ledger_sum(db=db, user_id=created.user.id) == 1000


async def test_an_unknown_plan_is_refused_with_the_known_ones(db):
    with pytest.raises(InvalidRequest, match="known plans: test, per-minute"):
        await create_user(db=db, config=make_config(), name="dave", plan="gold")


async def test_revoking_keeps_the_row_and_refuses_the_key_at_once(db):
    user_id, key = await user_with_key(db)
    assert await authenticate(db=db, plaintext=key)
    await revoke_key(db=db, prefix=key[:LOOKUP_PREFIX_LENGTH])
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(db=db, plaintext=key)
    [row] = await list_keys(db=db, user_id=user_id)
    assert row.revoked_at is not None


async def test_a_key_change_made_by_another_process_is_seen_once_the_cache_lapses(db):
    # Another replica or the CLI cannot clear this process's cache: the change waits for its TTL.
    user_id, key = await user_with_key(db)
    await authenticate(db=db, plaintext=key)
    async with db.write() as session:
        await session.execute(
            text("UPDATE apikey SET revoked_at = CURRENT_TIMESTAMP WHERE user_id = :u"), {"u": user_id}
        )
    assert (await authenticate(db=db, plaintext=key)).id == user_id
    key_cache(db).clear()
    with pytest.raises(Unauthorized, match="revoked"):
        await authenticate(db=db, plaintext=key)


async def test_user_changes_made_here_reach_authentication_at_once(db):
    user_id, key = await user_with_key(db)
    config = make_config()
    assert (await authenticate(db=db, plaintext=key)).plan == "test"
    other_plan = next(plan.slug for plan in config.plans if plan.slug != "test")
    await set_suspended(db=db, user_id=user_id, suspended=True)
    assert (await authenticate(db=db, plaintext=key)).suspended
    await set_storage_enabled(db=db, user_id=user_id, enabled=False)
    assert not (await authenticate(db=db, plaintext=key)).storage_enabled
    await set_plan(db=db, config=config, user_id=user_id, plan=other_plan)
    assert (await authenticate(db=db, plaintext=key)).plan == other_plan


async def test_a_second_key_works_alongside_the_first(db):
    user_id, first = await user_with_key(db)
    second = await create_key(db=db, user_id=user_id)
    assert second != first
    assert (await authenticate(db=db, plaintext=second)).id == user_id


async def test_authentication_records_last_use(db):
    user_id, key = await user_with_key(db)
    await authenticate(db=db, plaintext=key)
    async with db.read() as session:
        stored = (await session.exec(select(ApiKey).where(ApiKey.user_id == user_id))).one()
    assert stored.last_used_at is not None
