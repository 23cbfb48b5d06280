"""Cancelling a hero job on SQLite and PostgreSQL: a queued or running job is refunded once, a
finished one is left alone, and a cancel racing a completion ends in exactly one state."""

import asyncio

from sqlmodel import select

from serve_app.db.models import CreditEntry, UsageRecord
from serve_app.jobs import queue
from tests.factories import checked_balance
from tests.serve_app.jobs.test_queue import LEASE, claim, complete, job_row, queued_job


async def cancel(db, accounting, clock, job_id: str, user_id: int):
    return await queue.cancel(db=db, accounting=accounting, job_id=job_id, user_id=user_id, now=clock.now())


async def refunds(db, user_id: int) -> int:
    async with db.read() as session:
        rows = await session.exec(
            select(CreditEntry).where(CreditEntry.user_id == user_id, CreditEntry.kind == "refund")
        )
        return len(list(rows))


async def test_a_queued_job_is_cancelled_refunded_and_never_claimed(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    job = await cancel(db, accounting, clock, job_id, user_id)
    assert (job.status, job.stage) == ("cancelled", "cancelled")
    assert await checked_balance(db, user_id) == 1000
    assert await claim(db, accounting, clock, "w") is None
    async with db.read() as session:
        assert (await session.get(UsageRecord, job.request_id)).status == "failed"


async def test_a_running_job_is_refunded_and_its_worker_is_fenced_out(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    await claim(db, accounting, clock, "w")
    await cancel(db, accounting, clock, job_id, user_id)
    assert not await queue.renew(db=db, job_id=job_id, owner="w", lease=LEASE, now=clock.now())
    assert not await complete(db, accounting, clock, job_id, "w")
    assert (
        await queue.retry_or_fail(
            db=db, accounting=accounting, job_id=job_id, owner="w", error="stopped", retryable=False, now=clock.now()
        )
        is None
    )
    assert (await job_row(db, job_id)).status == "cancelled"
    assert await checked_balance(db, user_id) == 1000 and await refunds(db, user_id) == 1


async def test_cancelling_twice_refunds_once(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    results = await asyncio.gather(*(cancel(db, accounting, clock, job_id, user_id) for _ in range(5)))
    assert {job.status for job in results} == {"cancelled"}
    assert await checked_balance(db, user_id) == 1000 and await refunds(db, user_id) == 1


async def test_a_completed_job_is_not_cancelled_nor_refunded(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    await claim(db, accounting, clock, "w")
    assert await complete(db, accounting, clock, job_id, "w")
    assert (await cancel(db, accounting, clock, job_id, user_id)).status == "completed"
    assert await checked_balance(db, user_id) == 1000 - 3 and await refunds(db, user_id) == 0


async def test_another_users_job_cannot_be_cancelled(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    assert await cancel(db, accounting, clock, job_id, user_id + 1000) is None
    assert (await job_row(db, job_id)).status == "queued"


async def test_a_cancel_racing_a_completion_ends_in_one_state_with_one_settlement(db, accounting, clock):
    for _ in range(5):
        user_id, job_id = await queued_job(db, accounting, clock)
        await claim(db, accounting, clock, "w")
        completed, _ = await asyncio.gather(
            complete(db, accounting, clock, job_id, "w"), cancel(db, accounting, clock, job_id, user_id)
        )
        row = await job_row(db, job_id)
        async with db.read() as session:
            usage = await session.get(UsageRecord, row.request_id)
        balance = await checked_balance(db, user_id)
        if completed:
            assert (row.status, usage.status, balance) == ("completed", "succeeded", 1000 - 3)
        else:
            assert (row.status, usage.status, balance) == ("cancelled", "failed", 1000)
        assert await refunds(db, user_id) == (0 if completed else 1)
