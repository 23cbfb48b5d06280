"""What a diffusion replica needs to load and run one model. Importable without torch."""

from pydantic import Field

from deployments.batching import BatchingConfig
from deployments.diffusion.adapters import AdapterSource
from deployments.runtime_config import RuntimeConfig


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
