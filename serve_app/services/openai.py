"""OpenAI Images API requests turned into pixelray generations; billing, limits and storage are
the native API's own (GenerationService.run)."""

import asyncio
import base64
import time
from collections.abc import AsyncGenerator
from dataclasses import replace

from deployments.protocol import GenerationParams, GenerationProgress
from serve_app.config import AppConfig, ModelConfig
from serve_app.db.models import User
from serve_app.errors import InvalidRequest
from serve_app.fitting import seed_or_random
from serve_app.schemas.openai import (
    ImageGenCompletedEvent,
    ImageGenPartialImageEvent,
    ImageObject,
    ImagesEditRequest,
    ImagesGenerationRequest,
    ImagesResponse,
    ImageStreamEvent,
)
from serve_app.services.accounting import Accounting
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService
from serve_app.services.init_images import alpha_to_mask, check_mask_fits, clean_image
from serve_app.services.publish import PublishedImage

QUALITY_CHAINS = {
    "low": "quality/fast",
    "auto": "quality/balanced",
    "medium": "quality/balanced",
    "standard": "quality/balanced",
    "high": "quality/high",
    "hd": "quality/high",
}
# Clients written for OpenAI name its models; those requests pick a model by `quality` instead.
_OPENAI_MODEL_PREFIXES = ("dall-e", "gpt-image", "chatgpt-image")


class OpenAIImagesService:
    def __init__(self, *, config: AppConfig, generation: GenerationService, accounting: Accounting):
        self._config = config
        self._generation = generation
        self._accounting = accounting

    def resolve_model(self, request: ImagesGenerationRequest) -> ModelConfig:
        """The named catalog model, else the first catalog model of the quality's chain, else the default."""
        if request.model and not request.model.startswith(_OPENAI_MODEL_PREFIXES):
            return self._generation.resolve_model(request.model)
        for slug in self._config.chains.get(QUALITY_CHAINS[request.quality], []):
            if (model := self._config.model(slug)) is not None:
                return model
        return self._generation.resolve_model(None)

    async def generate(
        self, *, user: User, request: ImagesGenerationRequest, context: RequestContext
    ) -> ImagesResponse:
        """`n` images of one prompt, charged as one request; all or nothing."""
        model = self.resolve_model(request)
        self._check_n(user, request.n)
        params = request.to_params(model, seed=seed_or_random(request.seed))
        images = await self._generation.run(user=user, model=model, params=params, context=context)
        return _response(images, revised_prompt=request.revised_prompt, response_format=request.response_format)

    async def stream(
        self, *, user: User, request: ImagesGenerationRequest, context: RequestContext
    ) -> AsyncGenerator[ImageStreamEvent, None]:
        """OpenAI's streamed generation: up to `partial_images` previews, then the image.

        Problems found before the first event (validation, admission) raise from the first
        `anext`; later ones raise from the iteration. Closing the iterator stops the generation
        (and refunds it).
        """
        model = self.resolve_model(request)
        self._check_n(user, request.n)
        (params,) = request.to_params(model, seed=seed_or_random(request.seed))
        if model.safety.policy == "block":
            # Previews are drawn before the checker sees the image: a model that withholds images shows none.
            params = replace(params, preview_every=0)
        shape = {
            "size": f"{params.width}x{params.height}",
            "quality": request.quality,
            "output_format": params.output_format,
        }
        previews: asyncio.Queue[ImageGenPartialImageEvent] = asyncio.Queue()
        made = 0

        def on_progress(_: int, progress: GenerationProgress) -> None:
            nonlocal made
            if progress.preview is not None and made < request.partial_images:
                previews.put_nowait(
                    ImageGenPartialImageEvent(
                        b64_json=base64.b64encode(progress.preview).decode(),
                        created_at=int(time.time()),
                        partial_image_index=made,
                        **shape,
                    )
                )
                made += 1

        run = asyncio.ensure_future(
            self._generation.run(user=user, model=model, params=[params], context=context, on_progress=on_progress)
        )
        try:
            while not run.done() or not previews.empty():
                preview = asyncio.ensure_future(previews.get())
                await asyncio.wait({preview, run}, return_when=asyncio.FIRST_COMPLETED)
                if preview.done():
                    yield preview.result()
                else:
                    preview.cancel()
            (image,) = run.result()
            yield ImageGenCompletedEvent(
                b64_json=base64.b64encode(image.result.image).decode(),
                created_at=int(time.time()),
                **shape,
                **_safety(image),
            )
        finally:
            run.cancel()

    def resolve_edit_model(self, request: ImagesEditRequest) -> ModelConfig:
        """The named catalog model, which must inpaint, else the first catalog model that does."""
        editors = [m.slug for m in self._config.models if "inpaint" in m.modes]
        if request.model and not request.model.startswith(_OPENAI_MODEL_PREFIXES):
            model = self._generation.resolve_model(request.model)
            if "inpaint" not in model.modes:
                raise InvalidRequest(
                    field="model",
                    message=f"model {model.slug!r} cannot edit images; models that can: {', '.join(editors) or 'none'}",
                )
            return model
        if not editors:
            raise InvalidRequest(field="model", message="no model on this server edits images (none lists inpaint)")
        return self._generation.resolve_model(editors[0])

    async def edit(
        self, *, user: User, request: ImagesEditRequest, image: bytes, mask: bytes | None, context: RequestContext
    ) -> ImagesResponse:
        """`n` edits of `image`: the area `mask` leaves transparent (or, without a mask, the
        image's own transparent area) is redrawn from the prompt; charged as one request."""
        model = self.resolve_edit_model(request)
        self._check_n(user, request.n)
        params = request.to_params(model, seed=seed_or_random(request.seed))

        # After admission, like a native inpainting request's: a refused one decodes nothing.
        async def inputs(params: list[GenerationParams]) -> list[GenerationParams]:
            clean = await asyncio.to_thread(clean_image, image, field="image")
            if mask is None:
                white_mask = await asyncio.to_thread(alpha_to_mask, image, field="image")
            else:
                white_mask = await asyncio.to_thread(alpha_to_mask, mask, field="mask")
            check_mask_fits(clean, white_mask)
            return [replace(p, init_image=clean, mask_image=white_mask) for p in params]

        images = await self._generation.run(user=user, model=model, params=params, context=context, inputs=inputs)
        return _response(images, revised_prompt=request.prompt, response_format=request.response_format)

    def _check_n(self, user: User, n: int) -> None:
        plan = self._accounting.plan_of(user)
        # Admission checks this too, but as the native `count`; OpenAI clients need `n` named.
        if n > plan.max_images_per_request:
            raise InvalidRequest(
                field="n",
                message=f"the {plan.name} plan allows at most {plan.max_images_per_request} images per request",
            )


def _response(images: list[PublishedImage], *, revised_prompt: str, response_format: str) -> ImagesResponse:
    data = []
    for image in images:
        if response_format == "url":
            data.append(ImageObject(url=image.url, revised_prompt=revised_prompt, **_safety(image)))
        else:
            encoded = base64.b64encode(image.result.image).decode()
            data.append(ImageObject(b64_json=encoded, revised_prompt=revised_prompt, **_safety(image)))
    return ImagesResponse(created=int(time.time()), data=data)


def _safety(image: PublishedImage) -> dict:
    """pixelray's `nsfw` and `blocked`, only from models that run a checker: OpenAI's own objects have none."""
    if image.verdict.nsfw is None:
        return {}
    return {"nsfw": image.verdict.nsfw, "blocked": image.verdict.blocked}
