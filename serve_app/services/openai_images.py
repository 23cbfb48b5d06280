"""OpenAI Images API requests turned into pixelray generations; billing, limits and storage are
the native API's own (GenerationService.run)."""

import base64
import secrets
import time

from serve_app.config import AppConfig, ModelConfig
from serve_app.db.models import User
from serve_app.errors import InvalidRequest
from serve_app.schemas.generate import MAX_SEED
from serve_app.schemas.openai import ImageObject, ImagesGenerationRequest, ImagesResponse
from serve_app.services.accounting import Accounting
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService

QUALITY_ROUTES = {
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
        """The named catalog model, else the first catalog model of the quality's route, else the default."""
        if request.model and not request.model.startswith(_OPENAI_MODEL_PREFIXES):
            return self._generation.resolve_model(request.model)
        for slug in self._config.routes.get(QUALITY_ROUTES[request.quality], []):
            if (model := self._config.model(slug)) is not None:
                return model
        return self._generation.resolve_model(None)

    async def generate(
        self, *, user: User, request: ImagesGenerationRequest, context: RequestContext
    ) -> ImagesResponse:
        """`n` images of one prompt, charged as one request; all or nothing."""
        model = self.resolve_model(request)
        plan = self._accounting.plan_of(user)
        # Admission checks this too, but as the native `count`; OpenAI clients need `n` named.
        if request.n > plan.max_images_per_request:
            raise InvalidRequest(
                field="n", message=f"the {plan.name} plan allows at most {plan.max_images_per_request} images per request"
            )
        seed = request.seed if request.seed is not None else secrets.randbelow(MAX_SEED + 1)
        params = request.to_params(model, seed=seed)
        images = await self._generation.run(user=user, model=model, params=params, context=context)
        data = [
            ImageObject(url=image.url, revised_prompt=request.revised_prompt)
            if request.response_format == "url"
            else ImageObject(
                b64_json=base64.b64encode(image.result.image).decode(), revised_prompt=request.revised_prompt
            )
            for image in images
        ]
        return ImagesResponse(created=int(time.time()), data=data)
