"""What a diffusion replica needs to load and run one model. Importable without torch."""

import math
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from deployments.diffusion.adapters import AdapterSource
from deployments.runtime_config import RuntimeConfig


class BatchingConfig(BaseModel):
    """Runtime batching knobs, applied through the deployment's `user_config` / `reconfigure`."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(
        default=8, ge=1, le=256, description="Most requests one pipeline call may hold."
    )
    batch_wait_timeout_s: float = Field(
        default=0.005,
        ge=0.0,
        le=10.0,
        description="How long a partial batch waits for more requests when the pipeline is idle; "
        "while a batch runs, requests queue and the next batch takes them (up to the bounds) "
        "the moment it ends.",
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


def with_batching_defaults(options: dict[str, Any], batching: BatchingConfig) -> dict[str, Any]:
    """Serve options with the limits left unset derived from batching: two batches' worth of
    ongoing requests (one runs while the next fills), a bounded queue of four times that, so
    overload becomes a fast 503 rather than a hang, and autoscaling towards one full batch per
    replica."""
    options = dict(options)
    if "autoscaling_config" in options:
        options["autoscaling_config"] = {
            "target_ongoing_requests": batching.max_batch_size, **options["autoscaling_config"]
        }
    options.setdefault("max_ongoing_requests", 2 * batching.max_batch_size)
    options.setdefault("max_queued_requests", 4 * options["max_ongoing_requests"])
    return options


class DiffusionConfig(RuntimeConfig):
    """How to load and run one diffusers pipeline on a replica."""

    source: str = Field(
        description="`builtin:tiny-sd`, a Hugging Face repo id (`org/name`) or a local directory."
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    upscaler: bool = Field(
        default=False,
        description="`source` is an upscaling pipeline (like stabilityai/stable-diffusion-x4-upscaler), "
        "loaded as one; it serves mode `upscale` only.",
    )
    adapters: dict[str, AdapterSource] = Field(
        default_factory=dict, description="LoRA adapters requests may name, by catalog slug."
    )
    max_loaded_adapter_sets: int = Field(
        default=4,
        ge=1,
        description="Adapter sets (the adapters one request names) a replica keeps loaded; the least "
        "recently used set is unloaded first.",
    )
    safety_checker: str | None = Field(
        default=None,
        description="The safety checker that judges every image (`builtin:stand-in-safety`, a Hub repo "
        "id or a local directory); its verdict is each result's `nsfw`. None runs no checker.",
    )
