"""Prometheus metrics of one diffusion replica, exported through Ray's metrics agent (names gain
Ray's `ray_` prefix). Serve adds the deployment, replica and application tags."""

from ray.serve.metrics import Counter, Histogram

from deployments.protocol import GenerationResult

_SECONDS = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64, 128]
_BATCH_SIZES = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0, 16.0, 24.0, 32.0, 64.0]


class DiffusionMetrics:
    """Create inside the replica's constructor, where Serve's replica context exists."""

    def __init__(self, *, model: str):
        self._generated = Counter("pixelray_images_generated", description="Images generated.", tag_keys=("model",))
        self._failed = Counter(
            "pixelray_images_failed", description="Requests whose image failed.", tag_keys=("model",)
        )
        self._batch_size = Histogram(
            "pixelray_batch_size",
            description="Requests per batch handed to the pipeline.",
            boundaries=_BATCH_SIZES,
            tag_keys=("model",),
        )
        self._generation_seconds = Histogram(
            "pixelray_generation_seconds",
            description="Wall time of one batch through the pipeline, encoding included.",
            boundaries=_SECONDS,
            tag_keys=("model",),
        )
        self._queue_wait_seconds = Histogram(
            "pixelray_queue_wait_seconds",
            description="Time a request spent on the replica outside its own pipeline call "
            "(waiting for its batch to fill and for earlier work).",
            boundaries=_SECONDS,
            tag_keys=("model",),
        )
        self._steps = Counter(
            "pixelray_denoising_steps",
            description="Denoising steps run by pipeline calls (a step of a batch counts once).",
            tag_keys=("model",),
        )
        self._abandoned = Counter(
            "pixelray_requests_abandoned",
            description="Requests whose caller left, by where the request was: queued (it never "
            "ran) or running (its call stopped at the next step unless another caller was left).",
            tag_keys=("model", "stage"),  # type: ignore[arg-type]  # ray annotates tag_keys as a 1-tuple; it takes any number
        )
        self._adapter_loads = Counter(
            "pixelray_adapter_loads",
            description="LoRA adapters loaded onto a replica's pipeline (each load after an eviction counts).",
            tag_keys=("model", "adapter"),  # type: ignore[arg-type]  # ray annotates tag_keys as a 1-tuple; it takes any number
        )
        for metric in (
            self._generated,
            self._failed,
            self._batch_size,
            self._generation_seconds,
            self._queue_wait_seconds,
            self._steps,
            self._abandoned,
            self._adapter_loads,
        ):
            # A fresh dict each: Serve adds its replica tags to the one it is given.
            metric.set_default_tags({"model": model})

    def record_adapter_load(self, adapter: str) -> None:
        self._adapter_loads.inc(tags={"adapter": adapter})

    def record_batch(self, *, size: int, seconds: float, steps: int) -> None:
        self._batch_size.observe(size)
        self._generation_seconds.observe(seconds)
        if steps:  # a call that failed before its first step ran none; counters refuse 0
            self._steps.inc(steps)

    def record_abandoned(self, *, stage: str) -> None:
        self._abandoned.inc(tags={"stage": stage})

    def record_result(self, result: GenerationResult | Exception, *, elapsed_s: float) -> None:
        """One request's outcome; `elapsed_s` is its whole time on the replica."""
        if isinstance(result, Exception):
            self._failed.inc()
            return
        self._generated.inc()
        self._queue_wait_seconds.observe(max(0.0, elapsed_s - result.inference_seconds))
