"""The durable job queue on SQLite and PostgreSQL: one owner per lease, fenced settlement,
expired leases taken over, and exactly one refund when a job finally fails."""

import asyncio
import secrets
from datetime import timedelta
from typing import Any

from sqlmodel import select

from serve_app.db.models import Image, Job, PageUrl
from serve_app.db.session import Database
from serve_app.jobs import queue
from serve_app.services import credits
from serve_app.services.accounting import Accounting
from serve_app.services.users import find_user
from tests.factories import ManualClock, checked_balance, image_row, user_with_key

LEASE = timedelta(seconds=30)


async def queued_job(
    db: Database, accounting: Accounting, clock: ManualClock, *, max_attempts: int = 2
) -> tuple[int, str]:
    """A paid-for job in the queue, as the hero service leaves it; returns (user id, job id)."""
    user_id, _ = await user_with_key(db)
    user = await find_user(db=db, name_or_id=str(user_id))
    admission = await accounting.admit(
        user=user, correlation_id=f"req_{secrets.token_hex(8)}", model="tiny-sd", images=1, cost=3
    )
    job_id, url_id = f"job_{secrets.token_hex(6)}", f"url_{secrets.token_hex(6)}"
    async with db.write() as session:
        session.add(PageUrl(id=url_id, user_id=user_id, url="https://example.com/post"))
        await session.flush()
        session.add(
            Job(
                id=job_id,
                user_id=user_id,
                request_id=admission.request_id,
                url_id=url_id,
                model="tiny-sd",
                style="photo",
                text_treatment="none",
                max_attempts=max_attempts,
                created_at=clock.now(),
            )
        )
        await accounting.hand_over(admission, session=session)
    return user_id, job_id


async def job_row(db: Database, job_id: str) -> Job:
    async with db.read() as session:
        return await session.get(Job, job_id)


def hero_image(user_id: int, job_id: str) -> Image:
    return image_row(
        user_id=user_id,
        request_id=job_id,
        prompt="p",
        width=120,
        size_bytes=10,
        storage_key=f"hero/{job_id}.png",
        inference_ms=5,
    )


async def images_of(db: Database, user_id: int) -> list[Image]:
    async with db.read() as session:
        return list(await session.exec(select(Image).where(Image.user_id == user_id)))


async def claim(db, accounting, clock, owner: str) -> Job | None:
    return await queue.claim_next(db=db, accounting=accounting, owner=owner, lease=LEASE, now=clock.now())


async def complete(db, accounting, clock, job_id: str, owner: str, **overrides: Any) -> bool:
    """`queue.complete` for `owner`'s lease, with a stored image and page facts the test can override."""
    fields: dict[str, Any] = {
        "storage_key": "hero/j.png",
        "style_used": "photo",
        "prompt": "p",
        "title": "",
        "site_name": "",
        **overrides,
    }
    return await queue.complete(db=db, accounting=accounting, job_id=job_id, owner=owner, now=clock.now(), **fields)


async def test_a_queued_job_is_leased_to_exactly_one_of_many_concurrent_workers(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    claims = await asyncio.gather(*(claim(db, accounting, clock, f"w{i}") for i in range(8)))
    winners = [c for c in claims if c is not None]
    assert [w.id for w in winners] == [job_id]
    row = await job_row(db, job_id)
    assert (row.status, row.attempt, row.lease_owner) == ("generating", 1, winners[0].lease_owner)


async def test_an_expired_lease_is_taken_over_and_fences_out_the_old_owner(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    assert await claim(db, accounting, clock, "old") is not None
    assert await claim(db, accounting, clock, "new") is None, "a live lease is not taken"

    clock.advance(seconds=31)
    taken = await claim(db, accounting, clock, "new")
    assert taken is not None and taken.attempt == 2

    assert not await queue.renew(db=db, job_id=job_id, owner="old", lease=LEASE, now=clock.now())
    assert not await complete(
        db, accounting, clock, job_id, "old", storage_key="hero/x.png", records=[hero_image(user_id, job_id)]
    )
    assert (
        await queue.retry_or_fail(
            db=db, accounting=accounting, job_id=job_id, owner="old", error="late", retryable=False, now=clock.now()
        )
        is None
    )
    assert (await job_row(db, job_id)).lease_owner == "new"
    assert await checked_balance(db, user_id) == 1000 - 3, "the old owner could not refund"
    assert await images_of(db, user_id) == [], "nor record its image"


async def test_completion_records_the_image_and_the_page_title(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock)
    await claim(db, accounting, clock, "w")
    image = hero_image(user_id, job_id)
    assert await complete(db, accounting, clock, job_id, "w", title="Sourdough", site_name="Crumb", records=[image])
    assert [row.id for row in await images_of(db, user_id)] == [image.id]
    row = await job_row(db, job_id)
    assert (row.status, row.stage, row.storage_key, row.lease_expires_at) == ("completed", "done", "hero/j.png", None)
    async with db.read() as session:
        assert (await session.get(PageUrl, row.url_id)).title == "Sourdough"
    assert await checked_balance(db, user_id) == 1000 - 3


async def test_a_retryable_failure_requeues_until_the_last_attempt_then_refunds_once(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock, max_attempts=2)
    for attempt, expected in ((1, "queued"), (2, "failed")):
        assert (await claim(db, accounting, clock, "w")).attempt == attempt
        status = await queue.retry_or_fail(
            db=db, accounting=accounting, job_id=job_id, owner="w", error="model down", retryable=True, now=clock.now()
        )
        assert status == expected
    assert await checked_balance(db, user_id) == 1000
    assert await claim(db, accounting, clock, "w") is None
    kinds = sorted(e.kind for e in await credits.history(db=db, user_id=user_id))
    assert kinds == ["debit", "grant", "refund"]


async def test_a_bad_page_fails_at_once_without_retry(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock, max_attempts=3)
    await claim(db, accounting, clock, "w")
    assert (
        await queue.retry_or_fail(
            db=db, accounting=accounting, job_id=job_id, owner="w", error="not a page", retryable=False, now=clock.now()
        )
        == "failed"
    )
    row = await job_row(db, job_id)
    assert (row.status, row.attempt, row.error) == ("failed", 1, "not a page")
    assert await checked_balance(db, user_id) == 1000


async def test_a_lost_last_attempt_is_failed_and_refunded_by_the_next_claim(db, accounting, clock):
    user_id, job_id = await queued_job(db, accounting, clock, max_attempts=1)
    await claim(db, accounting, clock, "dead")
    clock.advance(minutes=5)
    assert await claim(db, accounting, clock, "w") is None
    row = await job_row(db, job_id)
    assert row.status == "failed" and "lost" in row.error
    assert await checked_balance(db, user_id) == 1000
