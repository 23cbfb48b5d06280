"""Prompt -> image: validate against the model, admit and charge, run it, store it, record it."""

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from functools import partial

from deployments.prompt_enhancer.rules import DEFAULT_TONE
from deployments.protocol import GenerationParams, GenerationProgress, GenerationResult
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
from serve_app.schemas.upscale import UpscaleRequest
from serve_app.services.accounting import Accounting
from serve_app.services.batch import generate_batch
from serve_app.services.context import RequestContext
from serve_app.services.init_images import ImageFetcher, check_mask_fits, image_size, load_init_image
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.services.publish import discard_images, publish_image
from serve_app.services.settings import storage_info
from serve_app.services.upscale import Hires, hires_plan, resolve_upscaler
from serve_app.services.variants import PromptVariant
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore

# A request's input images, loaded (fetched, decoded, checked) only once it is admitted: its
# params in, the same params carrying the clean inputs out.
InputLoader = Callable[[list[GenerationParams]], Awaitable[list[GenerationParams]]]


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
        hires = hires_plan(self._config, request, params)
        batch = [replace(params, seed=(seed + i) % (MAX_SEED + 1)) for i in range(request.count)]
        inputs = self._request_inputs(request) if request.mode in ("img2img", "inpaint") else None
        images = await self.run(user=user, model=model, params=batch, context=context, inputs=inputs, hires=hires)
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

    def _request_inputs(self, request: GenerateRequest) -> InputLoader:
        """The img2img image, or the inpainting image and its mask, from their URLs."""

        async def load(params: list[GenerationParams]) -> list[GenerationParams]:
            image = await load_init_image(request.image, fetch=self._fetch_image)
            mask = None
            if request.mode == "inpaint":
                mask = await load_init_image(request.mask, fetch=self._fetch_image, field="mask")
                check_mask_fits(image, mask)
            return [replace(p, init_image=image, mask_image=mask) for p in params]

        return load

    async def upscale(self, *, user: User, request: UpscaleRequest, context: RequestContext) -> GenerateData:
        """`request.image` enlarged `scale` times on an upscaler model, stored and charged like a
        generation (per output megapixel where the model says so)."""
        model = resolve_upscaler(self._config, request.model)
        image = await load_init_image(request.image, fetch=self._fetch_image)
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        params = request.to_params(model, seed=seed, image=image, input_size=image_size(image))
        (published,) = await self.run(user=user, model=model, params=[params], context=context)
        return GenerateData(
            image=published.url,
            images=[GeneratedImage(id=published.id, image=published.url, seed=published.result.seed)],
            seed=published.result.seed,
            model=model.slug,
            width=published.result.width,
            height=published.result.height,
            mode="upscale",
            storage=storage_info(self._config, user=user, plan=self.plan_of(user)),
        )

    async def run(
        self,
        *,
        user: User,
        model: ModelConfig,
        params: list[GenerationParams],
        context: RequestContext,
        inputs: InputLoader | None = None,
        hires: Hires | None = None,
        on_progress: Callable[[int, GenerationProgress], None] | None = None,
    ) -> list[PublishedImage]:
        """Generates every image of one request on `model` (then enlarges each on `hires`'s
        upscaler), in order; all or nothing.

        Everything that can reject the request from its fields runs before the debit (of all
        images at once); once debited, any failure (the input images, model, storage, database,
        a client that hung up) is refunded exactly once. The images are requested concurrently so
        the model's deployment batches them. `inputs` (the img2img or inpainting images) runs
        only after admission, so a request that would be refused costs no download or decode.
        `on_progress` hears (image index, progress) for each denoising step of the drawing pass.
        """
        admission = await self._accounting.admit(
            user=user,
            correlation_id=context.request_id,
            model=model.slug,
            images=len(params),
            cost=sum(
                model.credit_cost(width=p.width, height=p.height, adapters=[slug for slug, _ in p.adapters])
                + (hires.cost(p) if hires else 0)
                for p in params
            ),
        )
        context.rate_limit = admission.rate_limit
        enabled = storage_info(self._config, user=user, plan=self._accounting.plan_of(user)).enabled
        stored_keys: list[str] = []
        try:
            if inputs is not None:
                params = await inputs(params)
            results = await asyncio.gather(
                *(
                    self._models.generate(model.slug, p, on_progress=on_progress and partial(on_progress, i))
                    for i, p in enumerate(params)
                )
            )
            if hires is not None:
                results = await asyncio.gather(
                    *(self._models.generate(hires.model.slug, hires.params_for(p, r)) for p, r in zip(params, results, strict=True))
                )
            published, rows = [], []
            for p, result in zip(params, results, strict=True):
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
