"""The diffusion deployment: params in, encoded images out. No database, no storage."""

import asyncio
import logging
import os
import time
from collections import Counter
from dataclasses import dataclass

from ray import serve

from deployments.diffusion.config import BatchingConfig, DiffusionConfig
from deployments.diffusion.metrics import DiffusionMetrics
from deployments.protocol import GenerationAbandoned, GenerationError, GenerationParams, GenerationResult

logger = logging.getLogger("ray.serve")
# Longest a filling batch waits on a running one: bounds the idle time a bad estimate can cost.
_MAX_FILL_S = 5.0


@dataclass
class _Queued:
    """One request in the batch queue; `abandoned` once its caller has gone."""

    params: GenerationParams
    abandoned: bool = False
    running: bool = False


class DiffusionServer:
    """Runs one diffusers pipeline; concurrent requests are batched by `@serve.batch`, bounded
    by image count and by pixels."""

    def __init__(self, config: DiffusionConfig):
        # OpenMP reads this when torch loads: passive workers give their core back instead of
        # spinning for one the proxy or the ingress holds (5.9x faster images on a loaded
        # 2-core machine; benchmarks/README.md). An operator's own setting wins.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        # Imported here so that importing this module (e.g. to build the app) never loads torch.
        from deployments.diffusion.backend import DiffusionBackend

        self._config = config
        self._metrics = DiffusionMetrics(model=serve.get_replica_context().deployment)
        self._backend = DiffusionBackend(config)
        self._batching = config.batching
        # Seconds per pixel-step, learnt from finished batches, and when the running batch
        # should end: together they say how long the next batch may keep filling for free.
        self._seconds_per_pixel_step: float | None = None
        self._busy_until = 0.0
        # Sizes of the batches that ran, and requests whose callers left (`stats`).
        self._batch_sizes: Counter[int] = Counter()
        self._abandoned = Counter({"queued": 0, "running": 0})
        self._running = 0
        self._queued = 0
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

    def _batch_size(self, batch: list[_Queued]) -> int:
        return self._batching.batch_size([(q.params.width, q.params.height) for q in batch])

    def _fill_time(self) -> float:
        """How long a batch starting to fill now may wait for more requests.

        Serve cuts the next batch while the current one still runs, then parks it until the
        pipeline is free; a fixed short wait would cut it small. While the pipeline is busy the
        next batch therefore keeps filling until the running batch should end, and when the
        pipeline is idle a lone request waits only `batch_wait_timeout_s`.
        """
        remaining = min(self._busy_until - time.monotonic(), _MAX_FILL_S)
        return max(self._batching.batch_wait_timeout_s, remaining)

    async def generate(self, params: GenerationParams) -> GenerationResult:
        """Returns the image for `params`; raises when this request alone fails."""
        # Read by the batch queue when this request is the first of a new batch.
        self._generate_batch.set_batch_wait_timeout_s(self._fill_time())
        started = time.perf_counter()
        queued = _Queued(params)
        self._queued += 1
        try:
            result = await self._generate_batch(queued)
        except asyncio.CancelledError:
            # The caller hung up (Serve cancels this task): a queued request leaves its batch
            # before it runs, a running one stops its pipeline call when no other caller is left.
            queued.abandoned = True
            if queued.running:
                stage = "running"
            else:
                stage = "queued"
                self._queued -= 1
            self._abandoned[stage] += 1
            self._metrics.record_abandoned(stage=stage)
            raise
        self._metrics.record_result(result, elapsed_s=time.perf_counter() - started)
        if isinstance(result, GenerationError):
            raise result
        if isinstance(result, Exception):
            logger.warning("generation failed: %r", result)
            # Re-raised as our own type: torch exceptions need not unpickle in the ingress.
            raise GenerationError(f"{type(result).__name__}: {result}")
        return result

    async def _run_batch(self, batch: list[_Queued]) -> list[GenerationResult | Exception]:
        # Requests whose callers left while queued never reach the pipeline.
        running = [queued for queued in batch if not queued.abandoned]
        outcome = dict(zip(map(id, running), await self._run_pipeline(running))) if running else {}
        return [outcome.get(id(queued), GenerationAbandoned("the caller left while queued")) for queued in batch]

    async def _run_pipeline(self, batch: list[_Queued]) -> list[GenerationResult | Exception]:
        # The pipeline runs in a worker thread so the replica keeps accepting requests (and
        # noticing callers that leave) while the next batch fills.
        work = sum(q.params.width * q.params.height * q.params.num_inference_steps for q in batch)
        started = time.monotonic()
        if self._seconds_per_pixel_step is not None:
            self._busy_until = started + work * self._seconds_per_pixel_step
        steps_before = self._backend.steps_run
        for queued in batch:
            queued.running = True
        self._queued -= len(batch)
        self._running = len(batch)
        try:
            results = await asyncio.to_thread(
                self._backend.generate, [q.params for q in batch], abandoned=lambda i: batch[i].abandoned
            )
        finally:
            self._busy_until = 0.0
            self._running = 0
            seconds = time.monotonic() - started
            self._batch_sizes[len(batch)] += 1
            self._metrics.record_batch(size=len(batch), seconds=seconds, steps=self._backend.steps_run - steps_before)
        if not any(isinstance(result, GenerationAbandoned) for result in results):
            # A call cut short says nothing about the pipeline's speed.
            previous = self._seconds_per_pixel_step
            rate = seconds / work
            self._seconds_per_pixel_step = rate if previous is None else 0.5 * previous + 0.5 * rate
        return results

    def stats(self) -> dict:
        """What this replica ran since it started: denoising steps, batches by size, requests
        whose callers left while queued or while running, and how many requests wait and run
        now. Read by the benchmarks and the tests."""
        return {
            "steps": self._backend.steps_run,
            "queued": self._queued,
            "running": self._running,
            "batch_sizes": dict(self._batch_sizes),
            "abandoned": dict(self._abandoned),
        }

    async def check_health(self) -> None:
        """Serve's health probe: the pipeline is loaded or the constructor would have failed."""
        if self._backend is None:
            raise RuntimeError("pipeline not loaded")
