"""What the prompt-enhancer deployment runs: the settings the serve config gives it, and what its
replicas are bound with. Importable without torch."""

from pydantic import Field, field_validator

from deployments.batching import BatchedDeploymentConfig
from deployments.runtime_config import CacheConfig, RuntimeConfig
from deployments.sources import BUILTIN_LMS, check_source


class PromptEnhancerDeploymentConfig(RuntimeConfig, BatchedDeploymentConfig):
    """The prompt enhancer's language model as the serve config sets it: the model, how it runs and
    samples, how it batches and its Serve options (`serve_options()`)."""

    source: str = Field(
        default="builtin:tiny-lm",
        description="`builtin:tiny-lm`, a Hugging Face causal LM repo id (`org/name`) or a local directory.",
    )
    max_new_tokens: int = Field(default=128, ge=1, le=1024, description="Most tokens the model may write per prompt.")
    temperature: float = Field(default=0.7, ge=0, le=2, description="Sampling temperature; 0 decodes greedily.")
    top_p: float = Field(default=0.9, gt=0, le=1, description="Nucleus sampling mass.")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_LMS)


class PromptEnhancerConfig(PromptEnhancerDeploymentConfig, CacheConfig):
    """What a prompt-enhancer replica is bound with: its deployment's settings and the
    application's model cache."""
