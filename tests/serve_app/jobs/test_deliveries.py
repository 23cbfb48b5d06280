"""The webhook delivery queue on SQLite and PostgreSQL: an event is queued with the state it
reports, leased to one sender, retried with exponential backoff, and given up after its tries."""

import asyncio
import json
import time
from datetime import timedelta

import pytest
from sqlmodel import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from serve_app.config import WebhookConfig
from serve_app.db.models import Job, WebhookDelivery
from serve_app.jobs import deliveries, queue
from serve_app.services.webhooks import new_secret, signed_headers
from tests.serve_app.jobs.test_queue import claim, complete, queued_job

POLICY = WebhookConfig(max_attempts=3, backoff_base_s=10, backoff_max_s=15)
LEASE = timedelta(seconds=40)


async def with_webhook(db, job_id: str, url: str = "https://hooks.example.com/in") -> None:
    async with db.write() as session:
        job = await session.get(Job, job_id)
        job.webhook_url = url
        session.add(job)


async def rows(db) -> list[WebhookDelivery]:
    async with db.read() as session:
        return list(await session.exec(select(WebhookDelivery)))


async def due(db, clock, owner: str = "w") -> list[WebhookDelivery]:
    return await deliveries.claim_due(
        db=db, owner=owner, lease=LEASE, now=clock.now(), limit=10, max_attempts=POLICY.max_attempts
    )


async def record(db, clock, delivery_id: str, status_code: int | None, owner: str = "w", retryable: bool = True):
    return await deliveries.record_try(
        db=db,
        delivery_id=delivery_id,
        owner=owner,
        now=clock.now(),
        policy=POLICY,
        status_code=status_code,
        error=None if status_code == 200 else "down",
        retryable=retryable,
    )


async def test_a_completed_job_queues_one_job_completed_event(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    await with_webhook(db, job_id)
    await claim(db, accounting, clock, "w")
    assert await complete(db, accounting, clock, job_id, "w", image_url="https://files.example.com/hero/j.png")
    [delivery] = await rows(db)
    payload = json.loads(delivery.payload)
    assert (delivery.event, delivery.job_id, delivery.status) == ("job.completed", job_id, "pending")
    assert payload["type"] == "job.completed"
    assert payload["data"]["image_url"] == "https://files.example.com/hero/j.png"


async def test_a_failed_job_queues_job_failed_and_a_cancelled_one_queues_nothing(db, accounting, clock):
    _, failing = await queued_job(db, accounting, clock)
    user_id, cancelled = await queued_job(db, accounting, clock)
    for job_id in (failing, cancelled):
        await with_webhook(db, job_id)
    await claim(db, accounting, clock, "w")
    await queue.retry_or_fail(
        db=db, accounting=accounting, job_id=failing, owner="w", error="not a page", retryable=False, now=clock.now()
    )
    job = await queue.cancel(db=db, accounting=accounting, job_id=cancelled, user_id=user_id, now=clock.now())
    assert job.status == "cancelled"
    [delivery] = await rows(db)
    assert (delivery.event, delivery.job_id) == ("job.failed", failing)
    assert json.loads(delivery.payload)["data"]["error"] == "not a page"


async def test_a_due_delivery_is_leased_to_exactly_one_of_many_senders(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    await _queue_event(db, clock, job_id)
    claims = await asyncio.gather(*(due(db, clock, f"s{i}") for i in range(6)))
    assert sorted(len(c) for c in claims) == [0, 0, 0, 0, 0, 1]


async def test_failed_tries_back_off_exponentially_then_succeed(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    delivery_id = await _queue_event(db, clock, job_id)
    for wait in (10, 15):  # 10 s, then 20 s capped at 15 s
        [delivery] = await due(db, clock)
        assert await record(db, clock, delivery_id, 500) == "pending"
        clock.advance(seconds=wait - 1)
        assert await due(db, clock) == [], "not due before its backoff"
        clock.advance(seconds=1)
    [delivery] = await due(db, clock)
    assert delivery.attempts == 3
    assert await record(db, clock, delivery_id, 200) == "delivered"
    [row] = await rows(db)
    assert (row.status, row.last_status_code, row.delivered_at) == ("delivered", 200, clock.now())


async def test_a_delivery_fails_after_its_last_try_or_at_once_when_unreachable_for_good(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    delivery_id = await _queue_event(db, clock, job_id)
    for expected in ("pending", "pending", "failed"):
        await due(db, clock)
        assert await record(db, clock, delivery_id, 503) == expected
        clock.advance(seconds=60)
    assert await due(db, clock) == []

    blocked_id = await _queue_event(db, clock, job_id)
    await due(db, clock)
    assert await record(db, clock, blocked_id, None, retryable=False) == "failed"


async def test_a_lost_senders_lease_lapses_and_another_takes_over_fenced(db, accounting, clock):
    _, job_id = await queued_job(db, accounting, clock)
    delivery_id = await _queue_event(db, clock, job_id)
    await due(db, clock, "dead")
    assert await due(db, clock, "live") == []
    clock.advance(seconds=41)
    [taken] = await due(db, clock, "live")
    assert taken.attempts == 2
    assert await record(db, clock, delivery_id, 200, owner="dead") is None
    assert await record(db, clock, delivery_id, 200, owner="live") == "delivered"


def test_signed_headers_verify_with_the_standard_webhooks_library():
    secret = new_secret()
    body = b'{"type":"job.completed","data":{}}'
    timestamp = int(time.time())
    headers = signed_headers(secret, msg_id="msg_1", timestamp=timestamp, body=body)
    assert Webhook(secret).verify(body, headers) == {"type": "job.completed", "data": {}}
    tampered = signed_headers(new_secret(), msg_id="msg_1", timestamp=timestamp, body=body)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, tampered)


async def _queue_event(db, clock, job_id: str) -> str:
    async with db.write() as session:
        job = await session.get(Job, job_id)
        delivery = deliveries.enqueue(
            session,
            user_id=job.user_id,
            job_id=job_id,
            url="https://hooks.example.com/in",
            event=deliveries.COMPLETED,
            data={"job_id": job_id},
            now=clock.now(),
        )
    return delivery.id
