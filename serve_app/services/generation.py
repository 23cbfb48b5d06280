"""Prompt -> image: validate against the model, admit and charge, run it, store it, record it."""

import asyncio
import secrets
from dataclasses import dataclass, replace

from deployments.prompt_enhancer.rules import DEFAULT_TONE
from deployments.protocol import GenerationParams, GenerationResult
from serve_app.config import AppConfig, ModelConfig, PlanConfig
from serve_app.db.models import Image, User
from serve_app.db.session import Database
from serve_app.errors import UnknownModel
from serve_app.schemas.generate import (
    MAX_SEED,
    BatchData,
    BatchRequest,
    GenerateData,
    GeneratedImage,
    GenerateRequest,
)
from serve_app.services.accounting import Accounting
from serve_app.services.batch import generate_batch
from serve_app.services.context import RequestContext
from serve_app.services.init_images import ImageFetcher, load_init_image
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.services.publish import discard_images, publish_image
from serve_app.services.settings import storage_info
from serve_app.services.variants import PromptVariant
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore


@dataclass(frozen=True)
class PublishedImage:
    id: str
    result: GenerationResult
    url: str


class GenerationService:
    def __init__(
        self,
        *,
        config: AppConfig,
        db: Database,
        store: ObjectStore,
        models: ModelClient,
        accounting: Accounting,
        prompts: PromptService,
        fetch_image: ImageFetcher,
        webhooks: WebhookService,
    ):
        self._config = config
        self._webhooks = webhooks
        self._prompts = prompts
        self._db = db
        self._store = store
        self._models = models
        self._accounting = accounting
        self._fetch_image = fetch_image

    def resolve_model(self, slug: str | None) -> ModelConfig:
        model = self._config.model(slug or self._config.default_model_slug)
        if model is None:
            raise UnknownModel(slug=slug, known=[m.slug for m in self._config.models])
        return model

    def plan_of(self, user: User) -> PlanConfig:
        return self._accounting.plan_of(user)

    async def handle(
        self,
        *,
        user: User,
        body: GenerateRequest | BatchRequest,
        context: RequestContext,
        variant: PromptVariant | None = None,
    ) -> GenerateData | BatchData:
        """One request or a batch of them, by the body's form. A batch's webhook URL is checked
        before any item runs, and told once every item has ended."""
        if isinstance(body, BatchRequest):
            if body.webhook_url:
                await self._webhooks.check_url(user=user, url=body.webhook_url)
            data = await generate_batch(self, user=user, request=body, context=context, variant=variant)
            if body.webhook_url:
                await self._webhooks.batch_finished(
                    user=user, url=body.webhook_url, request_id=context.request_id, data=data
                )
            return data
        return await self.generate(user=user, request=body, context=context, variant=variant)

    async def generate(
        self,
        *,
        user: User,
        request: GenerateRequest,
        context: RequestContext,
        variant: PromptVariant | None = None,
    ) -> GenerateData:
        """Runs one request (`count` images, its prompt enhanced first when asked) on its model
        and returns where the images are."""
        model = self.resolve_model(request.model)
        if variant is not None:
            request = variant.apply(request, model)
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        params = request.to_params(model, seed=seed)
        revised_prompt = None
        # Before admission: enhancing is free and never fails (the rules answer when the model cannot).
        if request.enhance:
            enhanced = await self._prompts.enhance(prompt=params.prompt, tone=DEFAULT_TONE, seed=seed)
            revised_prompt = enhanced.prompt
            params = replace(params, prompt=revised_prompt)
        batch = [replace(params, seed=(seed + i) % (MAX_SEED + 1)) for i in range(request.count)]
        init_image = request.image if request.mode == "img2img" else None
        images = await self.run(user=user, model=model, params=batch, context=context, init_image=init_image)
        first = images[0].result
        return GenerateData(
            image=images[0].url,
            images=[GeneratedImage(id=image.id, image=image.url, seed=image.result.seed) for image in images],
            seed=first.seed,
            model=model.slug,
            width=first.width,
            height=first.height,
            mode=params.mode,
            storage=storage_info(self._config, user=user, plan=self.plan_of(user)),
            revised_prompt=revised_prompt,
        )

    async def run(
        self,
        *,
        user: User,
        model: ModelConfig,
        params: list[GenerationParams],
        context: RequestContext,
        init_image: str | None = None,
    ) -> list[PublishedImage]:
        """Generates every image of one request on `model`, in order; all or nothing.

        Everything that can reject the request from its fields runs before the debit (of all
        images at once); once debited, any failure (the img2img input, model, storage, database,
        a client that hung up) is refunded exactly once. The images are requested concurrently so
        the model's deployment batches them. `init_image` (an http(s) or data: URL) is fetched and
        decoded only after admission, so a request that would be refused costs no download or decode.
        """
        admission = await self._accounting.admit(
            user=user,
            correlation_id=context.request_id,
            model=model.slug,
            images=len(params),
            cost=sum(model.credit_cost(width=p.width, height=p.height) for p in params),
        )
        context.rate_limit = admission.rate_limit
        enabled = storage_info(self._config, user=user, plan=self._accounting.plan_of(user)).enabled
        stored_keys: list[str] = []
        try:
            if init_image is not None:
                cleaned = await load_init_image(init_image, fetch=self._fetch_image)
                params = [replace(p, init_image=cleaned) for p in params]
            results = await asyncio.gather(*(self._models.generate(model.slug, p) for p in params))
            published, rows = [], []
            for p, result in zip(params, results):
                url, key = await publish_image(result, store=self._store, enabled=enabled)
                if key is not None:
                    stored_keys.append(key)
                row = _image_row(result, params=p, model=model, user=user, request_id=context.request_id, key=key)
                published.append(PublishedImage(id=row.id, result=result, url=url))
                rows.append(row)
            await self._accounting.succeed(admission, records=rows)
        except BaseException as exc:
            # Shielded: a client disconnect cancels this task, and the refund must still land.
            await asyncio.shield(self._accounting.fail(admission, error=f"{type(exc).__name__}: {exc}"))
            await asyncio.shield(discard_images(self._store, stored_keys))
            raise
        return published


def _image_row(
    result: GenerationResult, *, params: GenerationParams, model: ModelConfig, user: User, request_id: str, key: str | None
) -> Image:
    return Image(
        id=f"img_{secrets.token_hex(12)}",
        request_id=request_id,
        user_id=user.id,
        model=model.slug,
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        width=result.width,
        height=result.height,
        num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale,
        seed=result.seed,
        content_type=result.content_type,
        size_bytes=len(result.image),
        storage_key=key,
        inference_ms=round(result.inference_seconds * 1000),
    )
