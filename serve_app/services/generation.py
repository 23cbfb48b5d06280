"""Prompt -> image: validate against the model, admit and charge, run it, store it, record it."""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial

from deployments.prompt_enhancer.rules import DEFAULT_TONE
from deployments.protocol import GenerationParams, GenerationProgress
from serve_app.config import AppConfig, ModelConfig, PlanConfig
from serve_app.db.models import User
from serve_app.db.session import Database
from serve_app.errors import InvalidRequest, UnknownModel
from serve_app.fitting import nth_seed, seed_or_random
from serve_app.schemas.generate import (
    BatchData,
    BatchRequest,
    GenerateData,
    GenerateRequest,
    StorageInfo,
)
from serve_app.schemas.upscale import UpscaleRequest
from serve_app.services.accounting import Accounting
from serve_app.services.batch import generate_batch
from serve_app.services.context import RequestContext
from serve_app.services.init_images import (
    ImageFetcher,
    check_mask_fits,
    clean_image,
    header_size,
    image_size,
    load_init_image,
    read_image,
)
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.services.publish import PublishedImage, discard_images, publish
from serve_app.services.safety import Verdict, screen
from serve_app.services.server_settings import ServerSettings
from serve_app.services.storage_preference import storage_info
from serve_app.services.upscale import Hires, hires_plan, resolve_upscaler
from serve_app.services.variants import PromptVariant
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore

# A request's input images, loaded (fetched, decoded, checked) only once it is admitted: its
# params in, the same params carrying the clean inputs out.
InputLoader = Callable[[list[GenerationParams]], Awaitable[list[GenerationParams]]]


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
        server_settings: ServerSettings,
    ):
        self._config = config
        self._server_settings = server_settings
        self._webhooks = webhooks
        self._prompts = prompts
        self._db = db
        self._store = store
        self._models = models
        self._accounting = accounting
        self._fetch_image = fetch_image

    def resolve_model(self, slug: str | None) -> ModelConfig:
        wanted = slug or self._config.default_model_slug  # the config checks that the default is in the catalog
        model = self._config.model(wanted)
        if model is None:
            raise UnknownModel(slug=wanted, known=[m.slug for m in self._config.models])
        return model

    def plan_of(self, user: User) -> PlanConfig:
        return self._accounting.plan_of(user)

    async def storage_of(self, user: User) -> StorageInfo:
        """Whether `user`'s images are stored now; the server's switch comes from this replica's copy."""
        server = await self._server_settings.storage_enabled()
        return storage_info(server=server, user=user, plan=self.plan_of(user))

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
            # Each item is its own billable request, with its own admission id in the ledger.
            data = await generate_batch(
                body,
                plan=self.plan_of(user),
                generate=lambda item: self.generate(user=user, request=item, context=context, variant=variant),
                request_id=context.request_id,
            )
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
        on_progress: Callable[[int, GenerationProgress], None] | None = None,
        previews: int = 0,
    ) -> GenerateData:
        """Runs one request (`count` images, its prompt enhanced first when asked) on its model
        and returns where the images are. `on_progress` hears (image index, progress) of every
        denoising step; with `previews`, one step in steps ÷ (previews + 1) carries a preview."""
        model = self.resolve_model(request.model)
        if variant is not None:
            request = variant.apply(request, model)
        seed = seed_or_random(request.seed)
        params = request.to_params(model, seed=seed)
        if previews:
            # As the OpenAI stream spreads its partial images; the last step is never previewed.
            params = replace(params, preview_every=max(1, params.num_inference_steps // (previews + 1)))
        revised_prompt = None
        # Before admission: enhancing is free and never fails (the rules answer when the model cannot).
        if request.enhance:
            enhanced = await self._prompts.enhance(prompt=params.prompt, tone=DEFAULT_TONE, seed=seed)
            revised_prompt = enhanced.prompt
            params = replace(params, prompt=revised_prompt)
        hires = hires_plan(self._config, request, params)
        batch = [replace(params, seed=nth_seed(seed, i)) for i in range(request.count)]
        inputs = self._request_inputs(request) if request.mode in ("img2img", "inpaint") else None
        images = await self.run(
            user=user, model=model, params=batch, context=context, inputs=inputs, hires=hires, on_progress=on_progress
        )
        first = images[0].result
        return GenerateData(
            image=images[0].url,
            images=[image.public() for image in images],
            seed=first.seed,
            model=model.slug,
            width=first.width,
            height=first.height,
            mode=params.mode,
            storage=await self.storage_of(user),
            revised_prompt=revised_prompt,
        )

    def _request_inputs(self, request: GenerateRequest) -> InputLoader:
        """The img2img image, or the inpainting image and its mask, from their URLs."""

        async def load(params: list[GenerationParams]) -> list[GenerationParams]:
            assert request.image is not None  # the request was checked against its model: img2img and inpaint have one
            image = await load_init_image(request.image, fetch=self._fetch_image)
            mask = None
            if request.mode == "inpaint":
                assert request.mask is not None  # likewise checked: inpaint has a mask
                mask = await load_init_image(request.mask, fetch=self._fetch_image, field="mask")
                check_mask_fits(image, mask)
            return [replace(p, init_image=image, mask_image=mask) for p in params]

        return load

    async def upscale(self, *, user: User, request: UpscaleRequest, context: RequestContext) -> GenerateData:
        """`request.image` enlarged `scale` times on an upscaler model, stored and charged like a
        generation (per output megapixel where the model says so).

        The price comes from the image's header, so the image is decoded only once the request
        is admitted: a user without credits gets its 402 whatever the image holds, and a damaged
        image found then is a 400, refunded."""
        model = resolve_upscaler(self._config, request.model)
        data = await read_image(request.image, fetch=self._fetch_image)
        input_size = header_size(data)
        params = request.to_params(model, seed=seed_or_random(request.seed), input_size=input_size)

        async def inputs(params: list[GenerationParams]) -> list[GenerationParams]:
            image = await asyncio.to_thread(clean_image, data)
            if image_size(image) != input_size:
                # A PNG whose EXIF orientation follows its pixels: the header told another size.
                raise InvalidRequest(field="image", message="its EXIF orientation turns it; send the image upright")
            return [replace(p, init_image=image) for p in params]

        (published,) = await self.run(user=user, model=model, params=[params], context=context, inputs=inputs)
        return GenerateData(
            image=published.url,
            images=[published.public()],
            seed=published.result.seed,
            model=model.slug,
            width=published.result.width,
            height=published.result.height,
            mode="upscale",
            storage=await self.storage_of(user),
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
        An image the model's safety policy blocks is published as a placeholder, and its credits
        are refunded with the request's settlement.
        """
        assert user.id is not None  # the signed-in user, read from the database
        costs = [
            model.credit_cost(width=p.width, height=p.height, adapters=[slug for slug, _ in p.adapters])
            + (hires.cost(p) if hires else 0)
            for p in params
        ]
        with context.timed("admit"):
            admission = await self._accounting.admit(
                user=user, correlation_id=context.request_id, model=model.slug, images=len(params), cost=sum(costs)
            )
        context.rate_limit = admission.rate_limit
        enabled = (await self.storage_of(user)).enabled
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
            context.add_time("model", max(result.model_seconds for result in results))
            verdicts = [Verdict.of(model, result) for result in results]
            if hires is not None:
                results = await asyncio.gather(
                    *(
                        self._models.generate(hires.model.slug, hires.params_for(p, r))
                        for p, r in zip(params, results, strict=False)
                    )
                )
                context.add_time("model", max(result.model_seconds for result in results))
                verdicts = [
                    verdict | Verdict.of(hires.model, result)
                    for verdict, result in zip(verdicts, results, strict=False)
                ]
            published, rows = [], []
            for p, result, verdict in zip(params, results, verdicts, strict=False):
                result = screen(result, verdict)
                with context.timed("store"):
                    image = await publish(
                        result,
                        params=p,
                        model=model.slug,
                        user_id=user.id,
                        request_id=context.request_id,
                        store=self._store,
                        enabled=enabled,
                        verdict=verdict,
                    )
                if image.key is not None:
                    stored_keys.append(image.key)
                published.append(image)
                rows.append(image.row)
            withheld = sum(cost for cost, verdict in zip(costs, verdicts, strict=False) if verdict.blocked)
            with context.timed("settle"):
                await self._accounting.succeed(admission, records=rows, refund=withheld)
        except BaseException as exc:
            # Shielded: a client disconnect cancels this task, and the refund must still land.
            await asyncio.shield(self._accounting.fail(admission, error=f"{type(exc).__name__}: {exc}"))
            await asyncio.shield(discard_images(self._store, stored_keys))
            raise
        return published
