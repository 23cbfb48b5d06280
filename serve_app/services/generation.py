"""Prompt -> image: validate against the model, admit and charge, run it, store it, record it."""

import asyncio
import base64
import secrets

from deployments.protocol import GenerationResult
from serve_app.config import AppConfig, ModelConfig, PlanConfig
from serve_app.db.models import Image, User
from serve_app.db.session import Database
from serve_app.errors import ServiceUnavailable, UnknownModel
from serve_app.schemas.generate import MAX_SEED, GenerateData, GenerateRequest
from serve_app.services.accounting import Accounting
from serve_app.services.context import RequestContext
from serve_app.services.models import ModelClient
from serve_app.storage.base import ObjectStore, StorageUnavailable, new_image_key


class GenerationService:
    def __init__(
        self, *, config: AppConfig, db: Database, store: ObjectStore, models: ModelClient, accounting: Accounting
    ):
        self._config = config
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
        """Runs one prompt on its model and returns where the image can be fetched.

        Everything that can reject the request runs before the debit; once debited, any
        failure (model, storage, database, a client that hung up) is refunded exactly once.
        """
        model = self.resolve_model(request.model)
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        params = request.to_params(model, seed=seed)
        admission = await self._accounting.admit(
            user=user,
            request_id=context.request_id,
            model=model.slug,
            images=1,
            cost=model.credit_cost(width=params.width, height=params.height),
        )
        context.rate_limit = admission.rate_limit
        try:
            result = await self._models.generate(model.slug, params)
            image_url, storage_key = await publish_image(
                result, store=self._store, enabled=self.stores_images(user, self._accounting.plan_of(user))
            )
            async with self._db.write() as session:
                session.add(
                    Image(
                        id=f"img_{secrets.token_hex(12)}",
                        request_id=context.request_id,
                        user_id=user.id,
                        model=model.slug,
                        prompt=params.prompt,
                        negative_prompt=params.negative_prompt,
                        width=params.width,
                        height=params.height,
                        num_inference_steps=params.num_inference_steps,
                        guidance_scale=params.guidance_scale,
                        seed=params.seed,
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
        return GenerateData(
            image=image_url, seed=seed, model=model.slug, width=result.width, height=result.height
        )


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
