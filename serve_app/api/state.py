"""Everything a request may need, built once per ingress replica."""

import logging
from dataclasses import dataclass
from typing import Any

from serve_app.config import AppConfig
from serve_app.db.migrations import upgrade_database
from serve_app.db.session import Database
from serve_app.services.accounting import Accounting
from serve_app.services.chains import ModelChains
from serve_app.services.clock import Clock, SystemClock
from serve_app.services.generation import GenerationService
from serve_app.services.hero.service import HeroService
from serve_app.services.idempotency import IdempotencyKeys
from serve_app.services.image_url import ImageUrlService
from serve_app.services.image_url_cache import ImageCache
from serve_app.services.init_images import scraper_image_fetcher
from serve_app.services.jobs import JobService
from serve_app.services.models import ModelClient
from serve_app.services.openai import OpenAIImagesService
from serve_app.services.projects import RecentProjects
from serve_app.services.prompts import PromptService
from serve_app.services.server_settings import ServerSettings
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore, StorageUnavailable
from serve_app.storage.factory import build_object_store

logger = logging.getLogger("ray.serve")


@dataclass
class AppState:
    config: AppConfig
    db: Database
    store: ObjectStore
    models: ModelClient
    clock: Clock
    accounting: Accounting
    generation: GenerationService
    hero: HeroService
    jobs: JobService
    prompts: PromptService
    openai_images: OpenAIImagesService
    chains: ModelChains
    image_url: ImageUrlService
    idempotency: IdempotencyKeys
    webhooks: WebhookService
    server_settings: ServerSettings

    @classmethod
    def build(
        cls,
        config: AppConfig,
        *,
        model_handles: dict,
        scraper: Any = None,
        worker: Any = None,
        enhancer_handle: Any = None,
        clock: Clock | None = None,
    ) -> "AppState":
        clock = clock or SystemClock()
        db = Database(config.database_url)
        store = build_object_store(config)
        models = ModelClient(model_handles, timeout_s=config.generation_timeout_s)
        accounting = Accounting(db=db, config=config, clock=clock)
        prompts = PromptService(enhancer_handle, timeout_s=config.enhancer.timeout_s)
        webhooks = WebhookService(db=db, scraper=scraper, clock=clock)
        server_settings = ServerSettings(db=db, config=config, clock=clock)
        generation = GenerationService(
            config=config,
            db=db,
            store=store,
            models=models,
            accounting=accounting,
            prompts=prompts,
            fetch_image=scraper_image_fetcher(scraper),
            webhooks=webhooks,
            server_settings=server_settings,
        )
        hero = HeroService(
            config=config,
            db=db,
            store=store,
            accounting=accounting,
            scraper=scraper,
            worker=worker,
            webhooks=webhooks,
        )
        jobs = JobService(db=db, store=store, accounting=accounting, worker=worker, clock=clock)
        openai_images = OpenAIImagesService(config=config, generation=generation, accounting=accounting)
        chains = ModelChains(config=config, models=models)
        image_url = ImageUrlService(
            store=store,
            clock=clock,
            accounting=accounting,
            chains=chains,
            cache=image_cache(config, db, clock),
            projects=RecentProjects(db=db, clock=clock, reuse_s=config.project_reuse_s),
        )
        idempotency = IdempotencyKeys(
            db=db, clock=clock, ttl_s=config.ledger.idempotency_ttl_s, lease_s=config.ledger.lease_s
        )
        return cls(
            config=config,
            db=db,
            store=store,
            models=models,
            clock=clock,
            accounting=accounting,
            generation=generation,
            hero=hero,
            jobs=jobs,
            prompts=prompts,
            openai_images=openai_images,
            chains=chains,
            image_url=image_url,
            idempotency=idempotency,
            webhooks=webhooks,
            server_settings=server_settings,
        )

    async def startup(self) -> None:
        if self.config.migrate_on_start:
            await upgrade_database(self.db)
        try:
            await self.store.prepare()
        except StorageUnavailable as exc:
            # Not fatal: generations answer 503 and /health reports the store until it is back.
            logger.warning("object store not ready at start: %s", exc)

    async def shutdown(self) -> None:
        await self.db.dispose()


def image_cache(config: AppConfig, db: Database, clock: Clock) -> ImageCache:
    # The lease outlives the longest chain of timeouts, so a live generation is never taken over;
    # waiters give up a little after that.
    longest_chain = max((len(chain) for chain in config.chains.values()), default=1)
    lease_s = config.generation_timeout_s * longest_chain + 30
    return ImageCache(db=db, clock=clock, lease_s=lease_s, wait_s=lease_s + 5)
