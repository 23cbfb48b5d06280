"""The webhook delivery queue on the database: an event is committed with the state change it
reports, then leased by a jobs worker for each try, so a delivery outlives any one replica.

Like jobs, every change after the claim is fenced on (delivery id, lease owner)."""

import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.config import WebhookConfig
from serve_app.db.models import Job, WebhookDelivery, WebhookSecret
from serve_app.db.session import Database

COMPLETED, FAILED = "job.completed", "job.failed"


def job_event_data(job: Job, *, image_url: str | None = None) -> dict[str, Any]:
    """What a hero job's event carries: enough to act on without calling back."""
    return {
        "job_id": job.id,
        "kind": job.kind,
        "status": job.status,
        "url_id": job.url_id,
        "image_url": image_url,
        "style_used": job.style_used,
        "attempt": job.attempt,
        "error": job.error,
    }


def enqueue(
    session: AsyncSession, *, user_id: int, job_id: str, url: str, event: str, data: dict[str, Any], now: datetime
) -> WebhookDelivery:
    """Inside the caller's transaction, so the event exists exactly when the state it reports does."""
    # The envelope Standard Webhooks recommends: type, timestamp, data.
    payload = {"type": event, "timestamp": now.isoformat().replace("+00:00", "Z"), "data": data}
    delivery = WebhookDelivery(
        id=f"msg_{secrets.token_urlsafe(18)}",
        user_id=user_id,
        job_id=job_id,
        event=event,
        url=url,
        payload=json.dumps(payload, separators=(",", ":")),
        next_attempt_at=now,
        created_at=now,
    )
    session.add(delivery)
    return delivery


async def claim_due(
    *, db: Database, owner: str, lease: timedelta, now: datetime, limit: int, max_attempts: int
) -> list[WebhookDelivery]:
    """Leases up to `limit` deliveries whose next try is due (or whose sender's lease ran out),
    counting the try now: a delivery that keeps killing its sender still runs out of tries."""
    async with db.write() as session:
        query = (
            select(WebhookDelivery)
            .where(
                col(WebhookDelivery.status) == "pending",
                col(WebhookDelivery.next_attempt_at) <= now,
                or_(col(WebhookDelivery.lease_expires_at).is_(None), col(WebhookDelivery.lease_expires_at) < now),
            )
            .order_by(col(WebhookDelivery.next_attempt_at))
            .limit(limit)
        )
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        claimed = []
        for delivery in await session.exec(query):
            if delivery.attempts >= max_attempts:
                delivery.status = "failed"
                delivery.lease_owner = delivery.lease_expires_at = None
                delivery.last_error = (delivery.last_error or "the sender of the last try was lost")[:500]
            else:
                delivery.attempts += 1
                delivery.lease_owner, delivery.lease_expires_at = owner, now + lease
                claimed.append(delivery)
            session.add(delivery)
        return claimed


def backoff(attempts: int, policy: WebhookConfig) -> timedelta:
    """The wait after the `attempts`-th failed try: base, 2×base, 4×base, … up to the cap."""
    return timedelta(seconds=min(policy.backoff_max_s, policy.backoff_base_s * 2 ** (attempts - 1)))


async def record_try(
    *,
    db: Database,
    delivery_id: str,
    owner: str,
    now: datetime,
    policy: WebhookConfig,
    status_code: int | None,
    error: str | None,
    retryable: bool,
) -> str | None:
    """Records one try's outcome: delivered on a 2xx; otherwise retried after `backoff`, or failed
    when out of tries or not `retryable`. Returns the new status, or None if no longer the owner."""
    async with db.write() as session:
        delivery = (
            await session.exec(
                select(WebhookDelivery).where(
                    and_(
                        col(WebhookDelivery.id) == delivery_id,
                        col(WebhookDelivery.lease_owner) == owner,
                        col(WebhookDelivery.status) == "pending",
                    )
                )
            )
        ).first()
        if delivery is None:
            return None
        delivery.last_status_code, delivery.last_error = status_code, error[:500] if error else None
        delivery.lease_owner = delivery.lease_expires_at = None
        if status_code is not None and 200 <= status_code < 300:
            delivery.status, delivery.delivered_at = "delivered", now
        elif retryable and delivery.attempts < policy.max_attempts:
            delivery.next_attempt_at = now + backoff(delivery.attempts, policy)
        else:
            delivery.status = "failed"
        session.add(delivery)
        return delivery.status


async def secret_of(*, db: Database, user_id: int) -> str | None:
    async with db.read() as session:
        return (await session.exec(select(WebhookSecret.secret).where(col(WebhookSecret.user_id) == user_id))).first()
