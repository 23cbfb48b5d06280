"""Where a model deployment's replica loads from and how it runs torch. Importable without torch."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class RuntimeConfig(BaseModel):
    """The fields every model deployment's config shares (see deployments/torch_runtime.py)."""

    model_config = ConfigDict(extra="forbid")

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
        default=None, ge=1, description="torch intra-op threads on CPU; unset leaves torch's default."
    )
