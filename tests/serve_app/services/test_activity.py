"""The console's usage chart and ledger pages, on both databases."""

from datetime import UTC, datetime, timedelta

from serve_app.db.models import CreditEntry, UsageRecord
from serve_app.services.activity import daily_activity, ledger_page
from tests.factories import ManualClock, user_with_key

NOW = datetime(2026, 11, 27, 0, 30, tzinfo=UTC)


async def add_generation(db, user_id, *, at, images, credits, status="succeeded", refunded=False):
    request_id = f"req_{at.timestamp()}_{images}_{status}"
    async with db.write() as session:
        session.add(
            UsageRecord(
                request_id=request_id,
                user_id=user_id,
                model="tiny-sd",
                images=images,
                credits=credits,
                status=status,
                created_at=at,
            )
        )
        session.add(CreditEntry(user_id=user_id, kind="debit", amount=-credits, request_id=request_id, created_at=at))
        if refunded:
            session.add(
                CreditEntry(user_id=user_id, kind="refund", amount=credits, request_id=request_id, created_at=at)
            )


async def test_images_and_net_credits_are_counted_per_utc_day_for_30_days(db):
    user_id, _ = await user_with_key(db)
    other_id, _ = await user_with_key(db)
    await add_generation(db, user_id, at=NOW - timedelta(minutes=45), images=2, credits=2)  # yesterday, 23:45
    await add_generation(db, user_id, at=NOW, images=3, credits=6)
    await add_generation(db, user_id, at=NOW, images=1, credits=4, status="failed", refunded=True)
    await add_generation(db, user_id, at=NOW - timedelta(days=40), images=9, credits=9)  # outside the window
    await add_generation(db, other_id, at=NOW, images=5, credits=5)

    days = await daily_activity(db=db, user_id=user_id, clock=ManualClock(NOW))

    assert len(days) == 30 and days[-1].day == NOW.date() and days[0].day == NOW.date() - timedelta(days=29)
    assert (days[-1].images, days[-1].credits) == (3, 6)
    assert (days[-2].images, days[-2].credits) == (2, 2)
    assert sum(day.images for day in days) == 5


async def test_the_ledger_pages_newest_first_with_the_total(db):
    user_id, _ = await user_with_key(db)
    for minute in range(5):
        await add_generation(db, user_id, at=NOW + timedelta(minutes=minute), images=1, credits=1)
    first = await ledger_page(db=db, user_id=user_id, limit=4, offset=0)
    rest = await ledger_page(db=db, user_id=user_id, limit=4, offset=4)
    # Five debits and the plan's starting grant.
    assert first.total == rest.total == 6
    assert [entry.kind for entry in first.entries + rest.entries] == ["debit"] * 5 + ["grant"]
