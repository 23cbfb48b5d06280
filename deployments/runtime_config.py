"""How a model deployment's replicas run torch, and where they find model files. Importable without torch."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RuntimeConfig(BaseModel):
    """How a model deployment's replicas run torch (see deployments/torch_runtime.py); the serve
    config sets it per deployment."""

    model_config = ConfigDict(extra="forbid")

    device: Literal["cpu", "cuda", "auto"] = Field(
        default="auto", description="Where to run: `auto` picks CUDA when a GPU is visible, else the CPU."
    )
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 is for GPUs only."
    )
    num_threads: int | None = Field(
        default=None, ge=1, description="torch intra-op threads on CPU; unset leaves torch's default."
    )


class CacheConfig(BaseModel):
    """Where a replica finds built-in models: one directory for the whole application
    (`model_cache_dir`), so it is not a setting of any one deployment."""

    model_config = ConfigDict(extra="forbid")

    cache_dir: str | None = Field(
        default=None,
        description="Where built-in models are built and cached; defaults to the user's cache dir.",
    )
