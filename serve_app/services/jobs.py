"""Background jobs as their owner sees them: status and progress, and cancelling one."""

from typing import Any

from serve_app.db.models import Job, User
from serve_app.db.session import Database
from serve_app.errors import JobAlreadyEnded, NotFound
from serve_app.jobs import queue
from serve_app.schemas.jobs import JobProgress, JobPublic
from serve_app.services.accounting import Accounting
from serve_app.services.clock import Clock
from serve_app.storage.base import ObjectStore


class JobService:
    def __init__(self, *, db: Database, store: ObjectStore, accounting: Accounting, worker: Any, clock: Clock):
        self._db = db
        self._store = store
        self._accounting = accounting
        self._worker = worker
        self._clock = clock

    async def get(self, *, user: User, job_id: str) -> JobPublic:
        async with self._db.read() as session:
            job = await session.get(Job, job_id)
        if job is None or job.user_id != user.id:
            raise NotFound(f"no job {job_id!r}")
        return self._public(job)

    async def cancel(self, *, user: User, job_id: str) -> JobPublic:
        """Cancels a queued or running job and refunds it once; its worker stops at its next lease
        renewal. Cancelling a cancelled job again answers the same; a finished one is JobAlreadyEnded."""
        assert user.id is not None  # the signed-in user, read from the database
        job = await queue.cancel(
            db=self._db, accounting=self._accounting, job_id=job_id, user_id=user.id, now=self._clock.now()
        )
        if job is None:
            raise NotFound(f"no job {job_id!r}")
        if job.status != "cancelled":
            raise JobAlreadyEnded(job_id=job_id, status=job.status)
        self._worker.stop.remote(job.id)
        return self._public(job)

    def _public(self, job: Job) -> JobPublic:
        return JobPublic(
            job_id=job.id,
            kind=job.kind,
            status=job.status,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            progress=JobProgress(stage=job.stage, step=job.progress_step, total=job.progress_total),
            url_id=job.url_id,
            style=job.style,
            style_used=job.style_used,
            prompt=job.prompt,
            image_url=self._store.url(job.storage_key) if job.storage_key else None,
            error=job.error,
            created_at=job.created_at,
            updated_at=job.updated_at,
            completed_at=job.completed_at,
        )
