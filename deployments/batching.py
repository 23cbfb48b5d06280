"""Dynamic batching of a model deployment's requests, and the Serve limits that follow from it."""

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from deployments.serve_options import DeploymentOptions


class BatchingConfig(BaseModel):
    """Runtime batching knobs, applied through the deployment's `user_config` / `reconfigure`."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(default=8, ge=1, le=256, description="Most requests one pipeline call may hold.")
    batch_wait_timeout_s: float = Field(
        default=0.005,
        ge=0.0,
        le=10.0,
        description="How long a partial batch waits for more requests when the pipeline is idle "
        "(a diffusion model's replica waits only while recent traffic says more are likely, so a "
        "lone caller at low load never does); while a batch runs, requests queue and the next "
        "batch takes them (up to the bounds) the moment it ends.",
    )
    max_batch_pixels: int = Field(
        default=8 * 512 * 512,
        ge=64 * 64,
        description="Most pixels (width × height summed over its images) one batch may hold, so a "
        "batch of 1024² images is smaller than one of 256²; a larger single image runs alone.",
    )

    def batch_size(self, sizes: Sequence[tuple[int, int]]) -> int:
        """The size the replica compares with `max_batch_size`: the image count, or the pixel
        total scaled so that `max_batch_pixels` maps to `max_batch_size`, whichever is larger.

        One image never counts for more than a full batch, so an oversized request runs alone
        instead of being refused by the batch queue.
        """
        pixels = sum(min(width * height, self.max_batch_pixels) for width, height in sizes)
        return max(len(sizes), math.ceil(pixels * self.max_batch_size / self.max_batch_pixels))


# A partial batch on an idle pipeline waits for more only when at least this share of recent
# requests came within the batch wait of the one before: below it, a wait mostly buys nothing.
COMPANY_SHARE = 0.25


class Arrivals:
    """How often a request has had company: the share of recent arrivals that came within the
    batch wait of the previous one (an exponentially weighted average over arrivals).

    A lone caller at low load would otherwise pay the whole `batch_wait_timeout_s` on every
    request (50 ms in the production config) for company that never comes; under load, requests
    come in bursts as batches finish, and the wait still gathers them.
    """

    def __init__(self, *, weight: float = 0.25):
        self._weight = weight
        # Undecided at first, so the first requests wait as a fixed wait would.
        self._share = 0.5
        self._last: float | None = None

    def arrived(self, now: float, *, wait_s: float) -> None:
        if self._last is not None:
            joined = 1.0 if now - self._last <= wait_s else 0.0
            self._share += self._weight * (joined - self._share)
        self._last = now

    @property
    def share(self) -> float:
        return self._share

    def company_likely(self) -> bool:
        return self._share >= COMPANY_SHARE


class BatchedDeploymentConfig(BaseModel):
    """A deployment that batches its requests: its batching knobs, its Serve options, and the
    Serve options that follow from both, derived here and nowhere else."""

    model_config = ConfigDict(extra="forbid")

    batching: BatchingConfig = Field(
        default_factory=BatchingConfig,
        description="Dynamic batching: how many requests share one model call, and how long a batch waits.",
    )
    deployment: DeploymentOptions = Field(
        default_factory=DeploymentOptions,
        description="Serve options of the deployment; the limits left unset follow from `batching`.",
    )

    @model_validator(mode="after")
    def _batches_can_fill(self) -> "BatchedDeploymentConfig":
        ongoing = self.deployment.max_ongoing_requests
        if ongoing is not None and ongoing < self.batching.max_batch_size:
            raise ValueError(
                f"deployment.max_ongoing_requests ({ongoing}) is below batching.max_batch_size "
                f"({self.batching.max_batch_size}), so a batch could never fill; set it to at least "
                f"{2 * self.batching.max_batch_size} (one batch running, one filling) or leave it unset"
            )
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve's options for this deployment: what `deployment` sets, and for what it leaves unset,
        two batches' worth of ongoing requests (one runs while the next fills), a bounded queue of
        four times that, so overload becomes a fast 503 rather than a hang, and autoscaling towards
        one full batch per replica."""
        options = self.deployment.to_serve_options(default_max_ongoing_requests=None)
        batch = self.batching.max_batch_size
        if "autoscaling_config" in options:
            options["autoscaling_config"] = {"target_ongoing_requests": batch, **options["autoscaling_config"]}
        options.setdefault("max_ongoing_requests", 2 * batch)
        options.setdefault("max_queued_requests", 4 * options["max_ongoing_requests"])
        return options
