"""What a prompt-enhancer replica needs to load and run one causal LM. Importable without torch."""

from pydantic import Field, field_validator

from deployments.batching import BatchingConfig
from deployments.runtime_config import RuntimeConfig
from deployments.sources import BUILTIN_LMS, check_source


class PromptEnhancerConfig(RuntimeConfig):
    """How to load and run the prompt enhancer's language model on a replica."""

    source: str = Field(
        default="builtin:tiny-lm",
        description="`builtin:tiny-lm`, a Hugging Face causal LM repo id (`org/name`) or a local directory.",
    )
    max_new_tokens: int = Field(
        default=128, ge=1, le=1024, description="Most tokens the model may write per prompt."
    )
    temperature: float = Field(
        default=0.7, ge=0, le=2, description="Sampling temperature; 0 decodes greedily."
    )
    top_p: float = Field(default=0.9, gt=0, le=1, description="Nucleus sampling mass.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_LMS)
