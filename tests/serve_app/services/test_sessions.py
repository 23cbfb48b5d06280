"""Console sessions on both databases: opened, found by their cookie, expired, closed."""

from datetime import UTC, datetime, timedelta

from sqlmodel import select

from serve_app.db.models import ConsoleSession
from serve_app.services import accounts, sessions
from tests.factories import ManualClock, user_with_key

START = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


async def test_a_session_is_found_by_its_token_until_it_expires(db):
    clock = ManualClock(START)
    user_id, _ = await user_with_key(db)
    opened = await sessions.open_session(db=db, clock=clock, user_id=user_id, ttl=timedelta(hours=1))

    active = await sessions.active_session(db=db, clock=clock, token=opened.token)
    assert active.user.id == user_id and active.role == "user" and active.csrf_token == opened.csrf_token
    assert await sessions.active_session(db=db, clock=clock, token=opened.token + "x") is None
    clock.advance(hours=1, seconds=1)
    assert await sessions.active_session(db=db, clock=clock, token=opened.token) is None


async def test_only_the_tokens_hash_is_stored(db):
    user_id, _ = await user_with_key(db)
    opened = await sessions.open_session(db=db, clock=ManualClock(START), user_id=user_id, ttl=timedelta(hours=1))
    async with db.read() as session:
        stored = (await session.exec(select(ConsoleSession.token_hash))).all()
    assert stored and opened.token not in stored


async def test_an_admins_session_carries_the_role(db):
    user_id, _ = await user_with_key(db)
    await accounts.set_role(db=db, user_id=user_id, role="admin")
    opened = await sessions.open_session(db=db, clock=ManualClock(START), user_id=user_id, ttl=timedelta(hours=1))
    assert (await sessions.active_session(db=db, clock=ManualClock(START), token=opened.token)).is_admin


async def test_closing_other_sessions_keeps_this_one(db):
    clock = ManualClock(START)
    user_id, _ = await user_with_key(db)
    here, elsewhere = [
        await sessions.open_session(db=db, clock=clock, user_id=user_id, ttl=timedelta(hours=1)) for _ in range(2)
    ]
    await sessions.close_other_sessions(db=db, user_id=user_id, keep_token=here.token)
    assert await sessions.active_session(db=db, clock=clock, token=here.token) is not None
    assert await sessions.active_session(db=db, clock=clock, token=elsewhere.token) is None
    await sessions.close_session(db=db, token=here.token)
    assert await sessions.active_session(db=db, clock=clock, token=here.token) is None
