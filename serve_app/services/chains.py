"""Fallback chains: named, ordered lists of catalog models (config `chains`). A request naming a
chain is served by the first model that succeeds; one that raises, times out or has no healthy
replica hands over to the next. Requests name a chain in their `route` parameter."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from deployments.protocol import GenerationParams, GenerationResult
from serve_app.config import AppConfig, ModelConfig
from serve_app.errors import GenerationFailed, InvalidRequest, ServiceUnavailable, UnknownChain, UnknownModel
from serve_app.services.models import ModelClient

logger = logging.getLogger("ray.serve")


@dataclass(frozen=True)
class Served:
    """The model that produced the image, the params it ran with and its result."""

    model: ModelConfig
    params: GenerationParams
    result: GenerationResult


class ModelChains:
    def __init__(self, *, config: AppConfig, models: ModelClient):
        self._config = config
        self._models = models

    def models_for(self, *, chain: str | None = None, model: str | None = None) -> list[ModelConfig]:
        """The models to try, in order: the chain's, the one named, or the default model."""
        if chain is not None and model is not None:
            raise InvalidRequest(field="route", message="send either `route` or `model`, not both")
        if chain is not None:
            slugs = self._config.chains.get(chain)
            if slugs is None:
                raise UnknownChain(name=chain, known=sorted(self._config.chains))
            return [self._model(slug) for slug in slugs]
        return [self._model(model or self._config.default_model_slug)]

    def _model(self, slug: str) -> ModelConfig:
        # The config checks that chains and the default model name catalog slugs.
        found = self._config.model(slug)
        if found is None:
            raise UnknownModel(slug=slug, known=[m.slug for m in self._config.models])
        return found

    async def generate_with_fallback(
        self, chain: list[ModelConfig], params_for: Callable[[ModelConfig], GenerationParams]
    ) -> Served:
        """Runs the first model of `chain` that succeeds; `params_for` adapts the request to each
        (sizes differ per model). GenerationFailed naming every model's failure if none does."""
        failures = []
        for model in chain:
            params = params_for(model)
            try:
                result = await self._models.generate(model.slug, params)
            except (GenerationFailed, ServiceUnavailable) as exc:
                logger.warning("chain fallback: %s failed: %s", model.slug, exc.message)
                failures.append(exc.message)
                continue
            return Served(model=model, params=params, result=result)
        raise GenerationFailed("every model failed: " + "; ".join(failures))
