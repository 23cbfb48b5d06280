"""The diffusion deployment: params in, encoded images out. No database, no storage."""

import asyncio
import logging
import time

from ray import serve

from deployments.diffusion.config import BatchingConfig, DiffusionConfig
from deployments.diffusion.metrics import DiffusionMetrics
from deployments.protocol import GenerationError, GenerationParams, GenerationResult

logger = logging.getLogger("ray.serve")


class DiffusionServer:
    """Runs one diffusers pipeline; concurrent requests are batched by `@serve.batch`, bounded
    by image count and by pixels."""

    def __init__(self, config: DiffusionConfig):
        # Imported here so that importing this module (e.g. to build the app) never loads torch.
        from deployments.diffusion.backend import DiffusionBackend

        self._config = config
        self._metrics = DiffusionMetrics(model=serve.get_replica_context().deployment)
        self._backend = DiffusionBackend(config)
        self._batching = config.batching
        # Built per replica rather than as a class decorator: the pixel bound reads this
        # replica's live batching config, which `reconfigure` replaces.
        self._generate_batch = serve.batch(
            max_batch_size=self._batching.max_batch_size,
            batch_wait_timeout_s=self._batching.batch_wait_timeout_s,
            batch_size_fn=self._batch_size,
        )(self._run_batch)

    def reconfigure(self, user_config: dict) -> None:
        """Applies `user_config` (a BatchingConfig) without a restart."""
        self._batching = BatchingConfig.model_validate(user_config or {})
        self._generate_batch.set_max_batch_size(self._batching.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(self._batching.batch_wait_timeout_s)

    def _batch_size(self, batch: list[GenerationParams]) -> int:
        return self._batching.batch_size([(p.width, p.height) for p in batch])

    async def generate(self, params: GenerationParams) -> GenerationResult:
        """Returns the image for `params`; raises when this request alone fails."""
        started = time.perf_counter()
        result = await self._generate_batch(params)
        self._metrics.record_result(result, elapsed_s=time.perf_counter() - started)
        if isinstance(result, GenerationError):
            raise result
        if isinstance(result, Exception):
            logger.warning("generation failed: %r", result)
            # Re-raised as our own type: torch exceptions need not unpickle in the ingress.
            raise GenerationError(f"{type(result).__name__}: {result}")
        return result

    async def _run_batch(self, batch: list[GenerationParams]) -> list[GenerationResult | Exception]:
        # The pipeline runs in a worker thread so the replica keeps accepting requests and
        # the next batch fills while this one computes.
        started = time.perf_counter()
        results = await asyncio.to_thread(self._backend.generate, batch)
        self._metrics.record_batch(size=len(batch), seconds=time.perf_counter() - started)
        return results

    async def check_health(self) -> None:
        """Serve's health probe: the pipeline is loaded or the constructor would have failed."""
        if self._backend is None:
            raise RuntimeError("pipeline not loaded")
