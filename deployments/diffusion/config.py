"""What a diffusion replica needs to load and run one model. Importable without torch."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BatchingConfig(BaseModel):
    """Runtime batching knobs, applied through the deployment's `user_config` / `reconfigure`."""

    model_config = ConfigDict(extra="forbid")

    max_batch_size: int = Field(
        default=8, ge=1, le=256, description="Most requests one pipeline call may hold."
    )
    batch_wait_timeout_s: float = Field(
        default=0.02,
        ge=0.0,
        le=10.0,
        description="How long a partial batch waits for more requests before it runs.",
    )


class DiffusionConfig(BaseModel):
    """How to load and run one diffusers pipeline on a replica."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        description="`builtin:tiny-sd`, a Hugging Face repo id (`org/name`) or a local directory."
    )
    cache_dir: str | None = Field(
        default=None,
        description="Where built-in models are built and cached; defaults to the user's cache dir.",
    )
    device: Literal["cpu", "cuda", "auto"] = Field(
        default="auto", description="`auto` picks CUDA when a GPU is visible, else the CPU."
    )
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 is for CUDA only."
    )
    num_threads: int | None = Field(
        default=None,
        ge=1,
        description="torch intra-op threads on CPU; unset leaves torch's default.",
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
