"""What a diffusion deployment runs: the settings a catalog entry gives it, and what its replicas
are bound with. Importable without torch."""

from pydantic import Field, field_validator

from deployments.batching import BatchedDeploymentConfig
from deployments.diffusion.adapters import AdapterSource
from deployments.runtime_config import CacheConfig, RuntimeConfig
from deployments.sources import check_source


class DiffusionDeploymentConfig(RuntimeConfig, BatchedDeploymentConfig):
    """One diffusion deployment as the serve config sets it: the model, how it runs, how it batches
    and its Serve options (`serve_options()`). A catalog entry (serve_app's ModelConfig) extends it
    with what users see and pay."""

    source: str = Field(description="`builtin:tiny-sd`, a Hugging Face repo id or a local model directory.")
    max_loaded_adapter_sets: int = Field(
        default=4,
        ge=1,
        le=64,
        description="Adapter sets (the adapters one request names) each replica keeps loaded; the least "
        "recently used is unloaded first. Requests are routed to a replica holding theirs.",
    )

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value)


class DiffusionConfig(DiffusionDeploymentConfig, CacheConfig):
    """What a diffusion replica is bound with: its deployment's settings and what the application
    derives for it from the catalog (never prices or names, so replicas see only what they run)."""

    upscaler: bool = Field(
        default=False,
        description="`source` is an upscaling pipeline (like stabilityai/stable-diffusion-x4-upscaler), "
        "loaded as one; it serves mode `upscale` only.",
    )
    adapters: dict[str, AdapterSource] = Field(
        default_factory=dict, description="LoRA adapters requests may name, by catalog slug."
    )
    safety_checker: str | None = Field(
        default=None,
        description="The safety checker that judges every image (`builtin:stand-in-safety`, a Hub repo "
        "id or a local directory); its verdict is each result's `nsfw`. None runs no checker.",
    )
