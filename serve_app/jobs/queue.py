"""The durable job queue on the database: claim with a lease, renew it, finish exactly once.

Every state change after the claim is fenced on (job id, lease owner): a worker whose lease ran
out and was taken over can no longer complete, fail or refund the job.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.db.models import Job, PageUrl
from serve_app.db.session import Database, rows_affected
from serve_app.jobs import deliveries
from serve_app.services.accounting import Accounting


async def claim_next(
    *, db: Database, accounting: Accounting, owner: str, lease: timedelta, now: datetime
) -> Job | None:
    """Leases the oldest queued job, or one whose lease expired. A job whose last attempt
    expired is failed and refunded instead, in the same transaction."""
    while True:
        async with db.write() as session:
            query = (
                select(Job)
                .where(
                    or_(
                        col(Job.status) == "queued",
                        and_(col(Job.status) == "generating", col(Job.lease_expires_at) < now),
                    )
                )
                .order_by(col(Job.created_at))
                .limit(1)
            )
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            job = (await session.exec(query)).first()
            if job is None:
                return None
            if job.attempt >= job.max_attempts:
                await _fail(session, accounting, job, error="the worker running the last attempt was lost", now=now)
                continue
            job.status, job.stage = "generating", "starting"
            job.attempt += 1
            job.lease_owner, job.lease_expires_at = owner, now + lease
            job.progress_step = job.progress_total = 0
            job.updated_at = now
            session.add(job)
            return job


async def renew(
    *,
    db: Database,
    job_id: str,
    owner: str,
    lease: timedelta,
    now: datetime,
    stage: str | None = None,
    step: int | None = None,
    total: int | None = None,
) -> bool:
    """Extends the lease (and records progress); False when this worker no longer owns the job."""
    values: dict = {"lease_expires_at": now + lease, "updated_at": now}
    if stage is not None:
        values["stage"] = stage
    if step is not None:
        values["progress_step"] = step
    if total is not None:
        values["progress_total"] = total
    async with db.write() as session:
        result = await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.lease_owner) == owner, col(Job.status) == "generating")
            .values(**values)
        )
    return rows_affected(result) == 1


async def complete(
    *,
    db: Database,
    accounting: Accounting,
    job_id: str,
    owner: str,
    now: datetime,
    storage_key: str,
    style_used: str,
    prompt: str,
    title: str,
    site_name: str,
    image_url: str | None = None,
    records: Sequence[SQLModel] = (),
) -> bool:
    """Marks the job completed and its request succeeded, recording `records` (its image row),
    if this worker still owns it, and queues its `job.completed` webhook; `image_url` is what
    the event tells the receiver."""
    async with db.write() as session:
        result = await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.lease_owner) == owner, col(Job.status) == "generating")
            .values(
                status="completed",
                stage="done",
                storage_key=storage_key,
                style_used=style_used,
                prompt=prompt,
                completed_at=now,
                updated_at=now,
                lease_expires_at=None,
            )
        )
        if rows_affected(result) != 1:
            return False
        job = await session.get(Job, job_id)
        assert job is not None  # the UPDATE above matched its row, in this transaction
        session.add_all(records)
        if title or site_name:
            await session.execute(
                update(PageUrl)
                .where(col(PageUrl.id) == job.url_id)
                .values(title=title[:300], site_name=site_name[:200])
            )
        admission = await accounting.admission_of(job.request_id, session=session)
        if admission is not None:
            await accounting.succeed(admission, session=session)
        if job.webhook_url:
            deliveries.enqueue(
                session,
                user_id=job.user_id,
                job_id=job.id,
                url=job.webhook_url,
                event=deliveries.COMPLETED,
                data=deliveries.job_event_data(job, image_url=image_url),
                now=now,
            )
    return True


async def retry_or_fail(
    *, db: Database, accounting: Accounting, job_id: str, owner: str, error: str, retryable: bool, now: datetime
) -> str | None:
    """Puts the job back in the queue, or fails and refunds it when it cannot or may not be
    retried. Returns the new status, or None when this worker no longer owns the job."""
    async with db.write() as session:
        job = (
            await session.exec(
                select(Job).where(col(Job.id) == job_id, col(Job.lease_owner) == owner, col(Job.status) == "generating")
            )
        ).first()
        if job is None:
            return None
        if retryable and job.attempt < job.max_attempts:
            job.status, job.stage, job.error = "queued", "queued", error[:500]
            job.lease_owner = job.lease_expires_at = None
            job.updated_at = now
            session.add(job)
            return "queued"
        await _fail(session, accounting, job, error=error, now=now)
        return "failed"


async def cancel(*, db: Database, accounting: Accounting, job_id: str, user_id: int, now: datetime) -> Job | None:
    """Cancels the user's job if it is still queued or running and refunds it, in one transaction.
    Returns the job as it now is (cancelled, or already finished), or None when the user has no
    such job. Completion and failure are conditional updates on the same row, so a job that
    finishes concurrently ends in exactly one state with exactly one settlement."""
    async with db.write() as session:
        result = await session.execute(
            update(Job)
            .where(col(Job.id) == job_id, col(Job.user_id) == user_id, col(Job.status).in_(("queued", "generating")))
            .values(
                status="cancelled",
                stage="cancelled",
                error="cancelled by the user",
                lease_owner=None,
                lease_expires_at=None,
                updated_at=now,
            )
        )
        job = await session.get(Job, job_id)
        if job is None or job.user_id != user_id:
            return None
        if rows_affected(result) == 1:
            admission = await accounting.admission_of(job.request_id, session=session)
            if admission is not None:
                await accounting.fail(admission, error="cancelled by the user", session=session)
    return job


async def _fail(session: AsyncSession, accounting: Accounting, job: Job, *, error: str, now: datetime) -> None:
    job.status, job.stage, job.error = "failed", "failed", error[:500]
    job.lease_owner = job.lease_expires_at = None
    job.updated_at = now
    session.add(job)
    admission = await accounting.admission_of(job.request_id, session=session)
    if admission is not None:
        await accounting.fail(admission, error=error, session=session)
    if job.webhook_url:
        deliveries.enqueue(
            session,
            user_id=job.user_id,
            job_id=job.id,
            url=job.webhook_url,
            event=deliveries.FAILED,
            data=deliveries.job_event_data(job),
            now=now,
        )
