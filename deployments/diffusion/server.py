"""The diffusion deployment: params in, encoded images out. No database, no storage."""

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable

from ray import serve

from deployments.diffusion.config import BatchingConfig, DiffusionConfig
from deployments.diffusion.metrics import DiffusionMetrics
from deployments.protocol import GenerationError, GenerationParams, GenerationProgress, GenerationResult

logger = logging.getLogger("ray.serve")
# Longest a filling batch waits on a running one: bounds the idle time a bad estimate can cost.
_MAX_FILL_S = 5.0


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
        # Streaming requests' progress listeners, by the id of their params object (the one
        # `@serve.batch` hands back inside the batch).
        self._listeners: dict[int, Callable[[GenerationProgress], None]] = {}
        # Built per replica rather than as a class decorator: the pixel bound reads this
        # replica's live batching config, which `reconfigure` replaces.
        self._generate_batch = serve.batch(
            max_batch_size=self._batching.max_batch_size,
            batch_wait_timeout_s=self._batching.batch_wait_timeout_s,
            batch_size_fn=self._batch_size,
        )(self._run_batch)

        # A closure, not a bound method: Serve keeps its LRU cache as an attribute of the
        # function it wraps, and a bound method takes no attributes.
        async def load_adapter_set(adapter_set: str) -> LoadedAdapters:
            return await self._load_adapter_set(adapter_set)

        self._adapter_sets = serve.multiplexed(max_num_models_per_replica=config.max_loaded_adapter_sets)(
            load_adapter_set
        )

    def reconfigure(self, user_config: dict) -> None:
        """Applies `user_config` (a BatchingConfig) without a restart."""
        self._batching = BatchingConfig.model_validate(user_config or {})
        self._generate_batch.set_max_batch_size(self._batching.max_batch_size)
        self._generate_batch.set_batch_wait_timeout_s(self._batching.batch_wait_timeout_s)

    def _batch_size(self, batch: list[GenerationParams]) -> int:
        return self._batching.batch_size([(p.width, p.height) for p in batch])

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
        if params.adapters:
            await self._adapter_sets(params.adapter_set)
        result = await self._generate_batch(params)
        self._metrics.record_result(result, elapsed_s=time.perf_counter() - started)
        if isinstance(result, GenerationError):
            raise result
        if isinstance(result, Exception):
            logger.warning("generation failed: %r", result)
            # Re-raised as our own type: torch exceptions need not unpickle in the ingress.
            raise GenerationError(f"{type(result).__name__}: {result}")
        return result

    async def generate_stream(self, params: GenerationParams) -> AsyncIterator[GenerationProgress | GenerationResult]:
        """Yields a GenerationProgress per denoising step (with a preview every
        `params.preview_every` steps), then the GenerationResult; raises as `generate` does."""
        events: asyncio.Queue[GenerationProgress] = asyncio.Queue()
        self._listeners[id(params)] = events.put_nowait
        result = asyncio.ensure_future(self.generate(params))
        try:
            while not result.done() or not events.empty():
                event = asyncio.ensure_future(events.get())
                await asyncio.wait({event, result}, return_when=asyncio.FIRST_COMPLETED)
                if event.done():
                    yield event.result()
                else:
                    event.cancel()
            yield result.result()
        finally:
            self._listeners.pop(id(params), None)
            result.cancel()

    def _step_hook(self, batch: list[GenerationParams]):
        """The backend's step hook for `batch`: hands each step of a streaming request to its
        listener on the event loop. None when nobody listens, so plain batches pay nothing."""
        listeners = [self._listeners.get(id(params)) for params in batch]
        if not any(listeners):
            return None
        loop = asyncio.get_running_loop()

        def hook(index: int, step: int, total: int, preview: bytes | None) -> None:
            if (listener := listeners[index]) is not None:
                loop.call_soon_threadsafe(listener, GenerationProgress(step=step, total=total, preview=preview))

        return hook

    async def _load_adapter_set(self, adapter_set: str) -> "LoadedAdapters":
        slugs = adapter_set.split("+")
        # Off the event loop: loading waits for the running batch, and requests keep arriving.
        for slug in await asyncio.to_thread(self._backend.load_adapters, slugs):
            self._metrics.record_adapter_load(slug)
        return LoadedAdapters(self._backend, slugs)

    async def _run_batch(self, batch: list[GenerationParams]) -> list[GenerationResult | Exception]:
        # The pipeline runs in a worker thread so the replica keeps accepting requests and
        # the next batch fills while this one computes.
        work = sum(p.width * p.height * p.num_inference_steps for p in batch)
        started = time.monotonic()
        if self._seconds_per_pixel_step is not None:
            self._busy_until = started + work * self._seconds_per_pixel_step
        try:
            return await asyncio.to_thread(self._backend.generate, batch, self._step_hook(batch))
        finally:
            self._busy_until = 0.0
            seconds = time.monotonic() - started
            self._metrics.record_batch(size=len(batch), seconds=seconds)
            previous = self._seconds_per_pixel_step
            rate = seconds / work
            self._seconds_per_pixel_step = rate if previous is None else 0.5 * previous + 0.5 * rate

    async def check_health(self) -> None:
        """Serve's health probe: the pipeline is loaded or the constructor would have failed."""
        if self._backend is None:
            raise RuntimeError("pipeline not loaded")


class LoadedAdapters:
    """One adapter set held on the pipeline. Serve's multiplexing LRU calls `__del__` when it
    evicts the set, which releases the adapters no other loaded set uses."""

    def __init__(self, backend, slugs: list[str]):
        self._backend = backend
        self._slugs = slugs
        self._released = False

    def __del__(self) -> None:
        # Serve calls this on eviction, and Python again when the object is collected.
        if not self._released:
            self._released = True
            self._backend.unload_adapters(self._slugs)
