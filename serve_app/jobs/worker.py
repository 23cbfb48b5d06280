"""The job worker deployment: leases queued jobs from the database and runs them on the cluster.

Jobs survive anything that happens to a worker: an expired lease (replica killed, app
restarted) returns the job to the queue for any worker to take.

It also runs the ledger's reaper, here because this deployment outlives any ingress replica:
requests whose ingress died (their admission lease lapsed) are refunded, and expired
idempotency keys are purged.
"""

import asyncio
import logging
import secrets
from datetime import timedelta
from typing import Any

from ray import serve
from ray.serve import Application

from serve_app.config import AppConfig
from serve_app.db.migrations import upgrade_database
from serve_app.db.session import Database
from serve_app.jobs import queue
from serve_app.jobs.hero import HeroJobRunner
from serve_app.services.accounting import Accounting
from serve_app.services.clock import SystemClock
from serve_app.services.idempotency import IdempotencyKeys
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.storage.factory import build_object_store

logger = logging.getLogger("ray.serve")


class JobWorker:
    async def __init__(self, config: AppConfig, model_handles: dict[str, Any], scraper: Any, enhancer_handle: Any = None):
        self._config = config
        self._db = Database(config.database_url)
        self._clock = SystemClock()
        self._accounting = Accounting(db=self._db, config=config, clock=self._clock)
        self._runner = HeroJobRunner(
            config=config,
            db=self._db,
            store=build_object_store(config),
            accounting=self._accounting,
            models=ModelClient(model_handles, timeout_s=config.generation_timeout_s),
            prompts=PromptService(enhancer_handle, timeout_s=config.enhancer.timeout_s),
            scraper=scraper,
            clock=self._clock,
            owner=f"worker-{secrets.token_hex(6)}",
        )
        self._wakeup = asyncio.Event()
        self._migrated = asyncio.Event()
        self._slots = asyncio.Semaphore(config.hero.concurrency)
        self._running: set[asyncio.Task] = set()
        self._loop = asyncio.create_task(self._poll())
        self._idempotency = IdempotencyKeys(
            db=self._db, clock=self._clock, ttl_s=config.ledger.idempotency_ttl_s, lease_s=config.ledger.lease_s
        )
        self._reaper = asyncio.create_task(self._reap())

    async def wake(self) -> None:
        """A hint that a job was just queued, so it starts without waiting for the next poll."""
        self._wakeup.set()

    async def check_health(self) -> None:
        if self._loop.done():
            raise RuntimeError(f"job loop stopped: {self._loop.exception()!r}")
        if self._reaper.done():
            raise RuntimeError(f"reaper stopped: {self._reaper.exception()!r}")

    async def _reap(self) -> None:
        await self._migrated.wait()
        while True:
            await asyncio.sleep(self._config.ledger.reaper_interval_s)
            try:
                await self._accounting.reap()
                await self._idempotency.purge_expired()
            except Exception:
                logger.exception("the reaper could not settle lapsed leases; retrying")

    async def _poll(self) -> None:
        if self._config.migrate_on_start:
            await upgrade_database(self._db)
        self._migrated.set()
        lease = timedelta(seconds=self._config.hero.lease_s)
        while True:
            await self._slots.acquire()
            try:
                job = await queue.claim_next(
                    db=self._db, accounting=self._accounting, owner=self._runner.owner, lease=lease, now=self._clock.now()
                )
            except Exception:
                logger.exception("could not claim a job; retrying")
                job = None
            if job is None:
                self._slots.release()
                self._wakeup.clear()
                try:
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._config.hero.poll_interval_s)
                except TimeoutError:
                    pass
                continue
            task = asyncio.create_task(self._runner.run(job))
            self._running.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task) -> None:
        self._running.discard(task)
        self._slots.release()
        if not task.cancelled() and task.exception() is not None:
            logger.error("hero job task failed: %r", task.exception())


def build_job_worker(
    config: AppConfig,
    *,
    model_apps: dict[str, Application],
    scraper: Application,
    enhancer_app: Application | None = None,
) -> Application:
    return (
        serve.deployment(JobWorker)
        .options(name="jobs", **config.hero.worker.to_serve_options())
        .bind(config, model_apps, scraper, enhancer_app)
    )
