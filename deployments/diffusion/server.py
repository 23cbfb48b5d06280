"""The diffusion deployment: params in, encoded images out. No database, no storage."""

import asyncio
import logging
import os
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace

from ray import serve

from deployments.batching import Arrivals, BatchingConfig
from deployments.diffusion.config import DiffusionConfig
from deployments.diffusion.metrics import DiffusionMetrics
from deployments.protocol import GenerationError, GenerationParams, GenerationProgress, GenerationResult

logger = logging.getLogger("ray.serve")


@dataclass(eq=False)
class _Queued:
    """One request waiting for the pipeline; `abandoned` once its caller has gone."""

    params: GenerationParams
    future: asyncio.Future = field(repr=False)
    abandoned: bool = False
    running: bool = False
    # A streaming request's: hears each of its denoising steps (on the event loop).
    listener: Callable[[GenerationProgress], None] | None = field(default=None, repr=False)


class DiffusionServer:
    """Runs one diffusers pipeline; concurrent requests are batched, bounded by image count and
    by pixels.

    The batch is cut when the pipeline is free, never before: it holds every request that
    queued while the previous batch ran (up to the bounds). `@serve.batch` instead cuts the
    next batch while the current one runs and parks it, so requests that arrive in between
    wait a whole extra batch; under 8 closed-loop clients it ran batches of 1–3 with 7 requests
    waiting on the replica (benchmarks/README.md).
    """

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
        self._waiting: deque[_Queued] = deque()
        self._arrived = asyncio.Event()
        self._arrivals = Arrivals()
        self._batcher: asyncio.Task | None = None
        # Sizes of the batches that ran, and requests whose callers left (`stats`).
        self._batch_sizes: Counter[int] = Counter()
        self._abandoned = Counter({"queued": 0, "running": 0})
        self._running = 0

        # A closure, not a bound method: Serve keeps its LRU cache as an attribute of the
        # function it wraps, and a bound method takes no attributes.
        async def load_adapter_set(adapter_set: str) -> LoadedAdapters:
            return await self._load_adapter_set(adapter_set)

        self._adapter_sets = serve.multiplexed(max_num_models_per_replica=config.max_loaded_adapter_sets)(
            load_adapter_set
        )

    def reconfigure(self, user_config: dict) -> None:
        """Applies `user_config` (a BatchingConfig) without a restart; the next batch uses it."""
        self._batching = BatchingConfig.model_validate(user_config or {})

    async def generate(self, params: GenerationParams) -> GenerationResult:
        """Returns the image for `params`; raises when this request alone fails."""
        return await self._generate(params)

    async def _generate(
        self, params: GenerationParams, *, listener: Callable[[GenerationProgress], None] | None = None
    ) -> GenerationResult:
        if params.adapters:
            # Serve's multiplexing keeps the replica's adapter sets loaded, least recently used out.
            await self._adapter_sets(params.adapter_set)
        if self._batcher is None or self._batcher.done():
            self._batcher = asyncio.create_task(self._batch_loop())
        started = time.perf_counter()
        queued = _Queued(params, asyncio.get_running_loop().create_future(), listener=listener)
        self._waiting.append(queued)
        self._arrivals.arrived(time.monotonic(), wait_s=self._batching.batch_wait_timeout_s)
        self._arrived.set()
        try:
            result = await queued.future
        except asyncio.CancelledError:
            # The caller hung up (Serve cancels this task): a queued request never runs, a
            # running one stops its pipeline call when no other caller of it is left.
            queued.abandoned = True
            stage = "running" if queued.running else "queued"
            self._abandoned[stage] += 1
            self._metrics.record_abandoned(stage=stage)
            raise
        elapsed = time.perf_counter() - started
        self._metrics.record_result(result, elapsed_s=elapsed)
        if isinstance(result, GenerationError):
            raise result
        if isinstance(result, Exception):
            logger.warning("generation failed: %r", result)
            # Re-raised as our own type: torch exceptions need not unpickle in the ingress.
            raise GenerationError(f"{type(result).__name__}: {result}")
        return replace(result, model_seconds=elapsed)

    async def generate_stream(self, params: GenerationParams) -> AsyncIterator[GenerationProgress | GenerationResult]:
        """Yields a GenerationProgress per denoising step (with a preview every
        `params.preview_every` steps), then the GenerationResult; raises as `generate` does.
        A caller that stops listening leaves like one of `generate` that hangs up."""
        events: asyncio.Queue[GenerationProgress] = asyncio.Queue()
        result = asyncio.ensure_future(self._generate(params, listener=events.put_nowait))
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
            result.cancel()

    async def _batch_loop(self) -> None:
        while True:
            while not self._waiting:
                self._arrived.clear()
                await self._arrived.wait()
            await self._fill()
            batch = self._take()
            if batch:
                await self._run_batch(batch)

    async def _fill(self) -> None:
        """With the pipeline idle, a partial batch waits up to `batch_wait_timeout_s` for more
        when recent arrivals say more are likely; a full one goes at once."""
        if not self._arrivals.company_likely():
            return
        deadline = time.monotonic() + self._batching.batch_wait_timeout_s
        while self._batch_size([q for q in self._waiting if not q.abandoned]) < self._batching.max_batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except TimeoutError:
                return

    def _take(self) -> list[_Queued]:
        """The next batch, oldest first, within the batch bounds; callers that left are dropped.
        The first request always goes, so an oversized one runs alone."""
        batch: list[_Queued] = []
        while self._waiting:
            queued = self._waiting[0]
            if not queued.abandoned and batch and self._batch_size([*batch, queued]) > self._batching.max_batch_size:
                break
            self._waiting.popleft()
            if not queued.abandoned:
                batch.append(queued)
        return batch

    def _batch_size(self, batch: list[_Queued]) -> int:
        return self._batching.batch_size([(q.params.width, q.params.height) for q in batch])

    def _step_hook(self, batch: list[_Queued]):
        """The backend's step hook for `batch`: hands each step of a streaming request to its
        listener on the event loop. None when nobody listens, so plain batches pay nothing."""
        listeners = [queued.listener for queued in batch]
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

    async def _run_batch(self, batch: list[_Queued]) -> None:
        # The pipeline runs in a worker thread so the replica keeps accepting requests (and
        # noticing callers that leave) while it computes.
        started = time.monotonic()
        steps_before = self._backend.steps_run
        for queued in batch:
            queued.running = True
        self._running = len(batch)
        try:
            results = await asyncio.to_thread(
                self._backend.generate,
                [q.params for q in batch],
                abandoned=lambda i: batch[i].abandoned,
                on_step=self._step_hook(batch),
            )
        except Exception as exc:
            logger.exception("a batch of %d failed outside the pipeline", len(batch))
            results = [exc] * len(batch)
        finally:
            self._running = 0
            self._batch_sizes[len(batch)] += 1
            self._metrics.record_batch(
                size=len(batch), seconds=time.monotonic() - started, steps=self._backend.steps_run - steps_before
            )
        for queued, result in zip(batch, results, strict=True):
            if not queued.future.done():
                queued.future.set_result(result)

    def stats(self) -> dict:
        """What this replica ran since it started: denoising steps, batches by size, requests
        whose callers left while queued or while running, how many requests wait and run now,
        and the share of recent requests that had company (whether a partial batch waits).
        Read by the benchmarks and the tests."""
        return {
            "steps": self._backend.steps_run,
            "queued": sum(not queued.abandoned for queued in self._waiting),
            "running": self._running,
            "batch_sizes": dict(self._batch_sizes),
            "company": round(self._arrivals.share, 3),
            "abandoned": dict(self._abandoned),
        }

    async def check_health(self) -> None:
        """Serve's health probe: the pipeline is loaded and the batch loop has not died."""
        if self._backend is None:
            raise RuntimeError("pipeline not loaded")
        if self._batcher is not None and self._batcher.done() and not self._batcher.cancelled():
            raise RuntimeError(f"the batch loop stopped: {self._batcher.exception()!r}")


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
