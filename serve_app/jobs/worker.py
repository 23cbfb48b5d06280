"""The job worker deployment: leases queued jobs from the database and runs them on the cluster,
and sends the webhook deliveries they (and batch requests) queue.

Jobs and deliveries survive anything that happens to a worker: an expired lease (replica killed,
app restarted) returns the work to the queue for any worker to take.

It also runs the ledger's reaper, here because this deployment outlives any ingress replica:
requests whose ingress died (their admission lease lapsed) are refunded, and expired
idempotency keys are purged.
"""

import asyncio
import contextlib
import logging
import secrets
from datetime import timedelta
from functools import partial
from typing import Any

from ray import serve
from ray.serve import Application

from serve_app.config import AppConfig
from serve_app.db.migrations import upgrade_database
from serve_app.db.session import Database
from serve_app.jobs import queue
from serve_app.jobs.dispatcher import WebhookDispatcher
from serve_app.jobs.hero import HeroJobRunner
from serve_app.services.accounting import Accounting
from serve_app.services.clock import SystemClock
from serve_app.services.idempotency import IdempotencyKeys
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.storage.factory import build_object_store

logger = logging.getLogger("ray.serve")


class JobWorker:
    async def __init__(  # type: ignore[misc]  # Ray Serve awaits an async constructor
        self, config: AppConfig, model_handles: dict[str, Any], scraper: Any, enhancer_handle: Any = None
    ):
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
        self._dispatcher = WebhookDispatcher(
            db=self._db, scraper=scraper, clock=self._clock, policy=config.webhooks, owner=self._runner.owner
        )
        self._wakeup = asyncio.Event()
        self._migrated = asyncio.Event()
        self._deliveries_due = asyncio.Event()
        self._slots = asyncio.Semaphore(config.hero.concurrency)
        self._running: dict[str, asyncio.Task] = {}
        self._loop = asyncio.create_task(self._poll())
        self._idempotency = IdempotencyKeys(
            db=self._db, clock=self._clock, ttl_s=config.ledger.idempotency_ttl_s, lease_s=config.ledger.lease_s
        )
        self._reaper = asyncio.create_task(self._reap())
        self._delivery_loop = asyncio.create_task(self._deliver())

    async def wake(self) -> None:
        """A hint that a job or a delivery was just queued, so it starts without waiting for the next poll."""
        self._wakeup.set()
        self._deliveries_due.set()

    async def stop(self, job_id: str) -> None:
        """A hint that `job_id` was cancelled: stops it now if it runs here. A replica that does
        not get the hint still stops it at its next lease renewal."""
        task = self._running.get(job_id)
        if task is not None:
            task.cancel()

    async def check_health(self) -> None:
        for name, loop in (("job", self._loop), ("reaper", self._reaper), ("webhook delivery", self._delivery_loop)):
            if loop.done():
                raise RuntimeError(f"{name} loop stopped: {loop.exception()!r}")

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
                    db=self._db,
                    accounting=self._accounting,
                    owner=self._runner.owner,
                    lease=lease,
                    now=self._clock.now(),
                )
            except Exception:
                logger.exception("could not claim a job; retrying")
                job = None
            if job is None:
                self._slots.release()
                self._wakeup.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), timeout=self._config.hero.poll_interval_s)
                continue
            task = asyncio.create_task(self._runner.run(job))
            self._running[job.id] = task
            task.add_done_callback(partial(self._finished, job.id))

    def _finished(self, job_id: str, task: asyncio.Task) -> None:
        self._running.pop(job_id, None)
        self._slots.release()
        # A finished job may have queued its webhook.
        self._deliveries_due.set()
        if not task.cancelled() and task.exception() is not None:
            logger.error("hero job task failed: %r", task.exception())

    async def _deliver(self) -> None:
        await self._migrated.wait()
        while True:
            try:
                sent = await self._dispatcher.send_due()
            except Exception:
                logger.exception("could not send webhook deliveries; retrying")
                sent = 0
            if sent:
                continue
            self._deliveries_due.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._deliveries_due.wait(), timeout=self._config.hero.poll_interval_s)


def build_job_worker(
    config: AppConfig,
    *,
    model_apps: dict[str, Application],
    scraper: Application,
    enhancer_app: Application | None = None,
) -> Application:
    return (
        serve.deployment(JobWorker)  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        .options(name="jobs", **config.hero.worker.to_serve_options())
        .bind(config, model_apps, scraper, enhancer_app)
    )
