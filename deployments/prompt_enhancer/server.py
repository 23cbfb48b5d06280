"""The prompt-enhancer deployment: an idea in, a guarded prompt out."""

import asyncio
import logging

from ray import serve

from deployments.batching import BatchingConfig
from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.prompt_enhancer.guard import guard
from deployments.protocol import PROMPT_MAX_CHARS, EnhanceParams, EnhanceResult

logger = logging.getLogger("ray.serve")


class PromptEnhancerServer:
    """Runs one causal LM; concurrent requests are batched by `@serve.batch`."""

    def __init__(self, config: PromptEnhancerConfig):
        # Imported here so that importing this module (e.g. to build the app) never loads torch.
        from deployments.prompt_enhancer.backend import PromptEnhancerBackend

        self._backend = PromptEnhancerBackend(config)
        self._apply_batching(config.batching)

    def reconfigure(self, user_config: dict) -> None:
        """Applies `user_config` ({max_batch_size, batch_wait_timeout_s}) without a restart."""
        self._apply_batching(BatchingConfig.model_validate(user_config or {}))

    def _apply_batching(self, batching: BatchingConfig) -> None:
        self._enhance_batch.set_max_batch_size(batching.max_batch_size)  # type: ignore[attr-defined]  # ray types @serve.batch methods as plain callables
        self._enhance_batch.set_batch_wait_timeout_s(batching.batch_wait_timeout_s)  # type: ignore[attr-defined]  # ray types @serve.batch methods as plain callables

    async def enhance(self, params: EnhanceParams) -> EnhanceResult:
        """Returns the model's prompt when it passes the guard, else the rule-based one."""
        result = await self._enhance_batch(params)
        if isinstance(result, Exception):
            logger.warning("prompt enhancement failed, using the rules: %r", result)
        return guard(
            result if isinstance(result, str) else None, idea=params.prompt, tone=params.tone, limit=PROMPT_MAX_CHARS
        )

    @serve.batch(max_batch_size=8, batch_wait_timeout_s=0.02)
    async def _enhance_batch(self, batch: list[EnhanceParams]) -> list[str | Exception]:
        return await asyncio.to_thread(self._backend.enhance, batch)

    async def check_health(self) -> None:
        """Serve's health probe: the model is loaded or the constructor would have failed."""
        if self._backend is None:
            raise RuntimeError("model not loaded")
