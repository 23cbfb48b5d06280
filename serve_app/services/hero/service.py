"""Page URL -> hero image: accept at once with a stable URL, run as a durable job, browse results."""

import asyncio
import logging
import secrets
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from serve_app.config import AppConfig
from serve_app.db.models import Job, PageUrl, User
from serve_app.db.session import Database
from serve_app.errors import NotFound
from serve_app.fitting import hero_size
from serve_app.schemas.hero import (
    HeroAccepted,
    HeroImagePublic,
    HeroRequest,
    UrlItem,
    UrlList,
)
from serve_app.services import egress
from serve_app.services.accounting import Accounting, Admission
from serve_app.services.context import RequestContext
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore

logger = logging.getLogger("ray.serve")


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, fragment dropped: the same page submitted twice reuses its url_id."""
    parts = urlsplit(url.strip())
    return urlunsplit((parts.scheme.lower(), parts.netloc.lower(), parts.path or "/", parts.query, ""))


class HeroService:
    def __init__(
        self,
        *,
        config: AppConfig,
        db: Database,
        store: ObjectStore,
        accounting: Accounting,
        scraper: Any,
        worker: Any,
        webhooks: WebhookService,
    ):
        self._config = config
        self._webhooks = webhooks
        self._db = db
        self._store = store
        self._accounting = accounting
        self._scraper = scraper
        self._worker = worker

    def image_url(self, url_id: str) -> str:
        return f"{self._config.public_base_url}/img/{url_id}/"

    async def submit(self, *, user: User, request: HeroRequest, context: RequestContext) -> HeroAccepted:
        """Checks the URL, charges, and commits a queued job before answering; the job runs on a worker."""
        url = normalize_url(request.url)
        await egress.check_url(self._scraper, url, field="url")
        if request.webhook_url:
            await self._webhooks.check_url(user=user, url=request.webhook_url)
        model = self._config.model(self._config.hero.model or self._config.default_model_slug)
        assert model is not None  # the config checks that hero.model and the default are in the catalog
        assert user.id is not None  # the authenticated user, read from the database
        width, height = hero_size(model, width=self._config.hero.width, height=self._config.hero.height)
        admission = await self._accounting.admit(
            user=user,
            correlation_id=context.request_id,
            model=model.slug,
            images=1,
            cost=model.credit_cost(width=width, height=height),
        )
        context.rate_limit = admission.rate_limit
        job = Job(
            id=f"job_{secrets.token_urlsafe(16)}",
            user_id=user.id,
            request_id=admission.request_id,
            url_id="",
            model=model.slug,
            style=request.style,
            text_treatment=request.text_treatment,
            max_attempts=self._config.hero.max_attempts,
            webhook_url=request.webhook_url,
        )
        try:
            await self._queue(job, url=url, admission=admission)
        except BaseException as exc:
            await asyncio.shield(self._accounting.fail(admission, error=f"could not queue the job: {exc!r}"))
            raise
        self._worker.wake.remote()
        return HeroAccepted(url_id=job.url_id, image_url=self.image_url(job.url_id), job_id=job.id)

    async def _queue(self, job: Job, *, url: str, admission: Admission) -> None:
        """Commits `job` under the user's record of `url` (found or created) in one transaction,
        which also hands the admission over to the job queue."""
        for attempt in range(2):
            try:
                async with self._db.write() as session:
                    url_id = (
                        await session.exec(
                            select(PageUrl.id).where(col(PageUrl.user_id) == job.user_id, col(PageUrl.url) == url)
                        )
                    ).first()
                    if url_id is None:
                        row = PageUrl(id=f"url_{secrets.token_urlsafe(12)}", user_id=job.user_id, url=url)
                        session.add(row)
                        # Flushed first: a concurrent submission of the same URL fails here, not on the job.
                        await session.flush()
                        url_id = row.id
                    job.url_id = url_id
                    session.add(job)
                    await self._accounting.hand_over(admission, session=session)
                return
            except IntegrityError:
                # The same URL was just submitted concurrently (PostgreSQL): the retry finds its row.
                if attempt:
                    raise

    async def newest_image(self, url_id: str) -> str | None:
        """Where the newest completed image of a URL is, or None while there is none."""
        async with self._db.read() as session:
            key = (
                await session.exec(
                    select(Job.storage_key)
                    .where(col(Job.url_id) == url_id, col(Job.status) == "completed")
                    .order_by(col(Job.completed_at).desc())
                    .limit(1)
                )
            ).first()
        return self._store.url(key) if key else None

    async def search(self, *, user: User, q: str, limit: int, offset: int) -> UrlList:
        condition = col(PageUrl.user_id) == user.id
        if q:
            needle = q.lower()
            condition = condition & or_(
                func.lower(PageUrl.url).contains(needle, autoescape=True),
                func.lower(PageUrl.title).contains(needle, autoescape=True),
            )
        async with self._db.read() as session:
            total = (await session.exec(select(func.count()).select_from(PageUrl).where(condition))).one()
            rows = list(
                await session.exec(
                    select(PageUrl)
                    .where(condition)
                    .order_by(col(PageUrl.created_at).desc(), PageUrl.id)
                    .offset(offset)
                    .limit(limit)
                )
            )
            jobs = await self._jobs_of(session, [row.id for row in rows])
        return UrlList(
            urls=[self._item(row, jobs.get(row.id, [])) for row in rows], total=total, limit=limit, offset=offset
        )

    async def get(self, *, user: User, url_id: str) -> UrlItem:
        async with self._db.read() as session:
            row = await session.get(PageUrl, url_id)
            if row is None or row.user_id != user.id:
                raise NotFound(f"no URL {url_id!r}")
            jobs = await self._jobs_of(session, [url_id])
        return self._item(row, jobs.get(url_id, []))

    @staticmethod
    async def _jobs_of(session, url_ids: list[str]) -> dict[str, list[Job]]:
        if not url_ids:
            return {}
        jobs: dict[str, list[Job]] = {}
        for job in await session.exec(
            select(Job).where(col(Job.url_id).in_(url_ids)).order_by(col(Job.created_at).desc())
        ):
            jobs.setdefault(job.url_id, []).append(job)
        return jobs

    def _item(self, row: PageUrl, jobs: list[Job]) -> UrlItem:
        return UrlItem(
            url_id=row.id,
            url=row.url,
            title=row.title,
            image_url=self.image_url(row.id),
            created_at=row.created_at,
            images=[
                HeroImagePublic(
                    image_id=job.id,
                    style=job.style_used or job.style,
                    text_treatment=job.text_treatment,
                    status=job.status,
                    created_at=job.created_at,
                    direct_url=self._store.url(job.storage_key) if job.storage_key else None,
                )
                for job in jobs
            ],
        )
