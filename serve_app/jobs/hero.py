"""One hero-image job: scrape the page, prompt, generate, set the text, store under the job id."""

import asyncio
import hashlib
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from deployments.protocol import FetchError, PageInfo
from serve_app.config import AppConfig
from serve_app.db.models import Job, PageUrl
from serve_app.db.session import Database
from serve_app.errors import ApiError, GenerationFailed, InvalidRequest
from serve_app.fitting import fit, hero_size
from serve_app.jobs import queue
from serve_app.services.accounting import Accounting
from serve_app.services.clock import Clock
from serve_app.services.hero.render import apply_text_treatment, render_preset
from serve_app.services.hero.styles import PRESET_STYLES, build_hero_prompt, pick_style, tone_for
from serve_app.services.init_images import image_size
from serve_app.services.models import ModelClient, unwrap
from serve_app.services.prompts import PromptService
from serve_app.services.publish import publish
from serve_app.services.safety import Verdict
from serve_app.storage.base import ObjectStore, StorageUnavailable

logger = logging.getLogger("ray.serve")


def job_seed(job_id: str) -> int:
    """A seed fixed by the job id: a re-run after a lost lease redraws the same image."""
    return int.from_bytes(hashlib.sha256(job_id.encode()).digest()[:4], "big")


@dataclass
class HeroJobRunner:
    config: AppConfig
    db: Database
    store: ObjectStore
    accounting: Accounting
    models: ModelClient
    prompts: PromptService
    scraper: Any  # the scraper deployment's Serve handle, as elsewhere
    clock: Clock
    owner: str

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.config.hero.lease_s)

    async def run(self, job: Job) -> None:
        """Runs a claimed job to completion, or back to the queue, or to a refunded failure; stops
        early, settling nothing, once the job is no longer this worker's (cancelled, taken over)."""
        lost = asyncio.Event()
        task = asyncio.current_task()
        assert task is not None  # a coroutine awaited by the worker's task
        heartbeat = asyncio.create_task(self._heartbeat(job.id, task, lost))
        try:
            await self._produce(job)
        except BaseException as exc:
            if lost.is_set() or isinstance(exc, LeaseLost):
                if lost.is_set():
                    task.uncancel()
                logger.info("hero job %s attempt %d stopped: no longer this worker's", job.id, job.attempt)
                return
            error, retryable = _classify(exc)
            status = await asyncio.shield(
                queue.retry_or_fail(
                    db=self.db,
                    accounting=self.accounting,
                    job_id=job.id,
                    owner=self.owner,
                    error=error,
                    retryable=retryable,
                    now=self.clock.now(),
                )
            )
            logger.info("hero job %s attempt %d: %s (%s)", job.id, job.attempt, status, error)
            if not isinstance(exc, Exception):
                raise
        finally:
            heartbeat.cancel()

    async def _produce(self, job: Job) -> None:
        await self._progress(job.id, "scraping")
        job_url = await self._url_of(job)
        page: PageInfo = await self.scraper.scrape.remote(job_url)
        style = pick_style(page) if job.style == "auto" else job.style
        # With an LLM configured it describes the page; the style's template still frames it.
        written = None if style in PRESET_STYLES else await self.prompts.page_prompt(page, tone=tone_for(style))
        hero = build_hero_prompt(page, style, subject=written.prompt if written and written.enhancer == "llm" else None)
        model = self.config.model(job.model)
        if model is None:
            # Retried, as before: the catalog may have changed under a queued job.
            raise GenerationFailed(f"model {job.model!r} is not in the catalog")
        width, height = hero_size(model, width=self.config.hero.width, height=self.config.hero.height)
        params = fit(
            model,
            prompt=hero.prompt,
            negative_prompt=hero.negative_prompt if model.supports_negative_prompt else None,
            width=width,
            height=height,
            seed=job_seed(job.id),
        )
        await self._progress(job.id, "generating", step=0, total=params.num_inference_steps)
        result = await self.models.generate(model.slug, params)
        if Verdict.of(model, result).blocked:
            # A hero's seed is fixed by its job: a retry would draw the same image. Failing refunds it.
            raise InvalidRequest(
                field="url", message="the model's safety checker flagged the image drawn for this page; refunded"
            )
        await self._progress(job.id, "rendering", step=params.num_inference_steps, total=params.num_inference_steps)
        title, site = page.title or page.headline or job_url, page.site_name
        if hero.style in PRESET_STYLES:
            image = await asyncio.to_thread(render_preset, result.image, style=hero.style, title=title, site_name=site)
        else:
            image = await asyncio.to_thread(
                apply_text_treatment, result.image, treatment=job.text_treatment, title=title, site_name=site
            )
        await self._progress(job.id, "storing")
        width, height = image_size(image)
        rendered = replace(result, image=image, content_type="image/png", width=width, height=height)
        # Keyed by the job id: a re-run overwrites its own output and never adds a second image.
        published = await publish(
            rendered,
            params=params,
            model=model.slug,
            user_id=job.user_id,
            request_id=job.request_id,
            store=self.store,
            key=f"hero/{job.id}.png",
        )
        assert published.key is not None  # stored (publish with storage on) under the key given
        await queue.complete(
            db=self.db,
            accounting=self.accounting,
            job_id=job.id,
            owner=self.owner,
            now=self.clock.now(),
            storage_key=published.key,
            style_used=hero.style,
            prompt=hero.prompt,
            title=page.title,
            site_name=page.site_name,
            image_url=published.url,
            records=[published.row],
        )

    async def _url_of(self, job: Job) -> str:
        async with self.db.read() as session:
            row = await session.get(PageUrl, job.url_id)
        assert row is not None  # a job's url_id references its PageUrl row
        return row.url

    async def _progress(self, job_id: str, stage: str, *, step: int | None = None, total: int | None = None) -> None:
        renewed = await queue.renew(
            db=self.db,
            job_id=job_id,
            owner=self.owner,
            lease=self.lease,
            now=self.clock.now(),
            stage=stage,
            step=step,
            total=total,
        )
        if not renewed:
            raise LeaseLost(job_id)

    async def _heartbeat(self, job_id: str, runner: asyncio.Task, lost: asyncio.Event) -> None:
        """Renews the lease; when the job stops being ours, cancels `runner`, so a cancelled job's
        model call (and its compute) stops too."""
        while True:
            await asyncio.sleep(self.config.hero.lease_s / 3)
            try:
                renewed = await queue.renew(
                    db=self.db, job_id=job_id, owner=self.owner, lease=self.lease, now=self.clock.now()
                )
            except Exception as exc:
                # A database blip: the lease has two more renewals of slack before it lapses.
                logger.warning("hero job %s: could not renew its lease: %r", job_id, exc)
                continue
            if not renewed:
                lost.set()
                runner.cancel()
                return


class LeaseLost(Exception):
    """The job is no longer this worker's: it was cancelled, or its lease lapsed and was taken over."""


def _classify(exc: BaseException) -> tuple[str, bool]:
    """(message, retryable): bad pages and bad input fail at once; infrastructure trouble retries."""
    cause = unwrap(exc)
    if isinstance(cause, FetchError):
        return cause.message, False
    if isinstance(cause, InvalidRequest):
        return cause.message, False
    if isinstance(cause, (GenerationFailed, StorageUnavailable)):
        return str(cause), True
    if isinstance(cause, ApiError):
        return cause.message, True
    if isinstance(cause, asyncio.CancelledError):
        return "the worker stopped while running this job", True
    return f"{type(cause).__name__}: {cause}", True
