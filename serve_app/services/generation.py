"""Prompt -> image: validate against the model, admit and charge, run it, store it, record it."""

import asyncio
import base64
import secrets
from dataclasses import dataclass, replace

from deployments.prompt_enhancer.rules import DEFAULT_TONE
from deployments.protocol import GenerationParams, GenerationResult
from serve_app.config import AppConfig, ModelConfig, PlanConfig
from serve_app.db.models import Image, User
from serve_app.db.session import Database
from serve_app.errors import ServiceUnavailable, UnknownModel
from serve_app.schemas.generate import MAX_SEED, GenerateData, GenerateRequest
from serve_app.services.accounting import Accounting
from serve_app.services.context import RequestContext
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.storage.base import ObjectStore, StorageUnavailable, new_image_key


@dataclass(frozen=True)
class PublishedImage:
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
    ):
        self._config = config
        self._prompts = prompts
        self._db = db
        self._store = store
        self._models = models
        self._accounting = accounting

    def resolve_model(self, slug: str | None) -> ModelConfig:
        model = self._config.model(slug or self._config.default_model_slug)
        if model is None:
            raise UnknownModel(slug=slug, known=[m.slug for m in self._config.models])
        return model

    def stores_images(self, user: User, plan: PlanConfig) -> bool:
        return self._config.storage.enabled and plan.storage and user.storage_enabled

    async def generate(self, *, user: User, request: GenerateRequest, context: RequestContext) -> GenerateData:
        """Runs one prompt (enhanced first when asked) on its model and returns where the image
        can be fetched."""
        model = self.resolve_model(request.model)
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        params = request.to_params(model, seed=seed)
        revised_prompt = None
        # Before admission: enhancing is free and never fails (the rules answer when the model
        # cannot), so no charge waits on it.
        if request.enhance:
            enhanced = await self._prompts.enhance(prompt=params.prompt, tone=DEFAULT_TONE, seed=seed)
            revised_prompt = enhanced.prompt
            params = replace(params, prompt=revised_prompt)
        [image] = await self.run(user=user, model=model, params=[params], context=context)
        return GenerateData(
            image=image.url,
            seed=seed,
            model=model.slug,
            width=image.result.width,
            height=image.result.height,
            revised_prompt=revised_prompt,
        )

    async def run(
        self, *, user: User, model: ModelConfig, params: list[GenerationParams], context: RequestContext
    ) -> list[PublishedImage]:
        """Generates every image of one request on `model`, in order; all or nothing.

        Everything that can reject the request runs before the debit (of all images at once);
        once debited, any failure (model, storage, database, a client that hung up) is refunded
        exactly once. The images are requested concurrently so the model's deployment batches them.
        """
        admission = await self._accounting.admit(
            user=user,
            request_id=context.request_id,
            model=model.slug,
            images=len(params),
            cost=sum(model.credit_cost(width=p.width, height=p.height) for p in params),
        )
        context.rate_limit = admission.rate_limit
        try:
            results = await asyncio.gather(*(self._models.generate(model.slug, p) for p in params))
            enabled = self.stores_images(user, self._accounting.plan_of(user))
            published = [await publish_image(result, store=self._store, enabled=enabled) for result in results]
            async with self._db.write() as session:
                for p, result, (_, storage_key) in zip(params, results, published):
                    session.add(
                        Image(
                            id=f"img_{secrets.token_hex(12)}",
                            request_id=context.request_id,
                            user_id=user.id,
                            model=model.slug,
                            prompt=p.prompt,
                            negative_prompt=p.negative_prompt,
                            width=p.width,
                            height=p.height,
                            num_inference_steps=p.num_inference_steps,
                            guidance_scale=p.guidance_scale,
                            seed=p.seed,
                            content_type=result.content_type,
                            size_bytes=len(result.image),
                            storage_key=storage_key,
                            inference_ms=round(result.inference_seconds * 1000),
                        )
                    )
                await self._accounting.succeed(admission, session=session)
        except BaseException as exc:
            # Shielded: a client disconnect cancels this task, and the refund must still land.
            await asyncio.shield(self._accounting.fail(admission, error=f"{type(exc).__name__}: {exc}"))
            raise
        return [PublishedImage(result=result, url=url) for result, (url, _) in zip(results, published)]


async def publish_image(
    result: GenerationResult, *, store: ObjectStore, enabled: bool
) -> tuple[str, str | None]:
    """Stores the image and returns (url, key), or a data URL and no key when storage is off."""
    if not enabled:
        encoded = base64.b64encode(result.image).decode()
        return f"data:{result.content_type};base64,{encoded}", None
    key = new_image_key(result.content_type)
    try:
        await store.put(key, result.image, content_type=result.content_type)
    except StorageUnavailable as exc:
        raise ServiceUnavailable(f"image storage is unavailable: {exc}", retry_after=5) from None
    return store.url(key), key
