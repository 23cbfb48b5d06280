"""The model catalog, the prompt enhancer and the scraper: the deployments beside the ingress."""

import ipaddress
import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from deployments.batching import BatchingConfig, with_batching_defaults
from deployments.diffusion.adapters import AdapterSource
from deployments.diffusion.config import DiffusionConfig
from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.serve_options import ActorOptions, DeploymentOptions
from deployments.sources import BUILTIN_ADAPTERS, BUILTIN_LMS, check_source
from serve_app.config.common import Slug, StrictModel


def check_batches_can_fill(deployment: DeploymentOptions, batching: BatchingConfig) -> None:
    """Refuses a max_ongoing_requests below max_batch_size: a batch could never fill."""
    ongoing = deployment.max_ongoing_requests
    if ongoing is not None and ongoing < batching.max_batch_size:
        raise ValueError(
            f"deployment.max_ongoing_requests ({ongoing}) is below batching.max_batch_size "
            f"({batching.max_batch_size}), so a batch could never fill; set it to at least "
            f"{2 * batching.max_batch_size} (one batch running, one filling) or leave it unset"
        )


def batched_serve_options(deployment: DeploymentOptions, batching: BatchingConfig) -> dict[str, Any]:
    """Serve options of a batching deployment: what the config sets, and limits derived from
    its batching for what it leaves unset (`with_batching_defaults`)."""
    return with_batching_defaults(deployment.to_serve_options(default_max_ongoing_requests=None), batching)


class AdapterConfig(StrictModel):
    """A LoRA adapter of one catalog model, which requests name in `loras`."""

    slug: Slug = Field(description="Name used in requests' `loras`.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    source: str = Field(
        description="`builtin:tiny-lora`, a Hugging Face repo id or a local directory holding LoRA weights."
    )
    weight_name: str | None = Field(
        default=None,
        description="The weights file inside `source` (e.g. `pixel-art.safetensors`) when it holds several.",
    )
    default_weight: float = Field(
        default=1.0,
        ge=-2,
        le=2,
        description="Strength used when a request gives no weight; 0 leaves the model unchanged.",
    )
    credits_per_image: int = Field(default=0, ge=0, description="Credits added to each image drawn with it.")

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_ADAPTERS)


class ModelConfig(StrictModel):
    """One entry of the model catalog: what users see and pay, and how its replicas run."""

    slug: Slug = Field(description="Name used in requests and as the deployment name.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    source: str = Field(
        description="`builtin:tiny-sd`, a Hugging Face repo id or a local model directory."
    )
    modes: list[Literal["text2img", "img2img", "inpaint", "upscale"]] = Field(
        default_factory=lambda: ["text2img"],
        min_length=1,
        description="Supported modes; `upscale` (an upscaler such as stable-diffusion-x4-upscaler, "
        "serving POST /api/v1/upscale) stands alone.",
    )
    supports_negative_prompt: bool = Field(default=True, description="Accepts negative_prompt.")
    default_steps: int = Field(default=20, ge=1, le=50, description="Denoising steps by default.")
    default_guidance_scale: float = Field(
        default=7.5, ge=0, le=30, description="Classifier-free guidance by default."
    )
    min_size: int = Field(default=256, ge=8, description="Smallest width or height in pixels.")
    max_size: int = Field(default=1024, ge=8, description="Largest width or height in pixels.")
    default_width: int = Field(default=512, ge=8, description="Width when none is given.")
    default_height: int = Field(default=512, ge=8, description="Height when none is given.")
    credits_per_image: int = Field(default=1, ge=0, description="Credits charged per image.")
    credits_per_megapixel: float | None = Field(
        default=None, ge=0, description="Credits per megapixel; the larger cost applies."
    )
    max_count: int = Field(default=4, ge=1, description="Most images one request may ask for.")
    device: Literal["cpu", "cuda", "auto"] = Field(default="auto", description="Where to run.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 for GPUs."
    )
    num_threads: int | None = Field(default=None, ge=1, description="torch threads on CPU.")
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    deployment: DeploymentOptions = Field(default_factory=DeploymentOptions)
    adapters: list[AdapterConfig] = Field(
        default_factory=list, description="LoRA adapters requests may apply to this model (`loras`)."
    )
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

    @field_validator("adapters")
    @classmethod
    def _unique_adapters(cls, value: list[AdapterConfig]) -> list[AdapterConfig]:
        slugs = [adapter.slug for adapter in value]
        repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
        if repeated:
            raise ValueError(f"adapter slugs must be unique per model; repeated: {', '.join(repeated)}")
        return value

    @field_validator("modes")
    @classmethod
    def _upscale_alone(cls, value: list[str]) -> list[str]:
        if "upscale" in value and len(value) > 1:
            raise ValueError("an upscaler does only `upscale`: give modes: [upscale], or list it as its own model")
        return value

    def adapter(self, slug: str) -> AdapterConfig | None:
        return next((a for a in self.adapters if a.slug == slug), None)

    @model_validator(mode="after")
    def _sizes(self) -> "ModelConfig":
        for name in ("min_size", "max_size", "default_width", "default_height"):
            if getattr(self, name) % 8:
                raise ValueError(f"{name} must be a multiple of 8, got {getattr(self, name)}")
        if self.min_size > self.max_size:
            raise ValueError("min_size must not exceed max_size")
        for name in ("default_width", "default_height"):
            if not self.min_size <= getattr(self, name) <= self.max_size:
                raise ValueError(f"{name} must lie between min_size and max_size")
        return self

    @model_validator(mode="after")
    def _batch_fits(self) -> "ModelConfig":
        check_batches_can_fill(self.deployment, self.batching)
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve options of this model's deployment, with the batching-aware defaults filled in."""
        return batched_serve_options(self.deployment, self.batching)

    def credit_cost(self, *, width: int, height: int, adapters: Sequence[str] = ()) -> int:
        """Credits for one image: the larger of the per-image and per-megapixel costs, rounded up, at
        least 1, plus the surcharge of each adapter in `adapters`."""
        cost = float(self.credits_per_image)
        if self.credits_per_megapixel is not None:
            cost = max(cost, self.credits_per_megapixel * width * height / 1_000_000)
        surcharge = sum(adapter.credits_per_image for adapter in self.adapters if adapter.slug in adapters)
        return max(1, math.ceil(cost)) + surcharge

    def to_diffusion_config(self, *, cache_dir: str | None) -> DiffusionConfig:
        return DiffusionConfig(
            source=self.source,
            cache_dir=cache_dir,
            device=self.device,
            dtype=self.dtype,
            num_threads=self.num_threads,
            batching=self.batching,
            upscaler="upscale" in self.modes,
            adapters={a.slug: AdapterSource(source=a.source, weight_name=a.weight_name) for a in self.adapters},
            max_loaded_adapter_sets=self.max_loaded_adapter_sets,
        )


class ScraperOptions(StrictModel):
    """The scraper deployment: every server-side fetch of a user-supplied URL goes through it."""

    allow_list: list[str] = Field(
        default_factory=list,
        description="Host names or CIDR networks that may be fetched although not public (tests, "
        "private deployments). Empty by default: only public addresses are fetched.",
    )
    deployment: DeploymentOptions = Field(
        default_factory=lambda: DeploymentOptions(num_replicas=1, ray_actor_options=ActorOptions(num_cpus=0)),
        description="Deployment options of the scraper.",
    )

    @field_validator("allow_list")
    @classmethod
    def _entries(cls, entries: list[str]) -> list[str]:
        for entry in entries:
            if "/" in entry:
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not a CIDR network like 10.0.0.0/8") from None
            elif not re.match(r"^[A-Za-z0-9.-]+$", entry):
                raise ValueError(f"{entry!r} is not a host name; use e.g. intranet.example.com or 10.0.0.0/8")
        return entries


class EnhancerConfig(StrictModel):
    """The prompt enhancer: rules in the ingress (no model), or a causal LM on its own deployment."""

    backend: Literal["rules", "llm"] = Field(
        default="rules", description="`rules` needs no model; `llm` runs `source` on a deployment."
    )
    source: str = Field(
        default="builtin:tiny-lm",
        description="`builtin:tiny-lm`, a Hugging Face causal LM repo id or a local directory (llm only).",
    )
    max_new_tokens: int = Field(
        default=128, ge=1, le=1024, description="Most tokens the model may write per prompt."
    )
    temperature: float = Field(default=0.7, ge=0, le=2, description="Sampling temperature; 0 is greedy.")
    device: Literal["cpu", "cuda", "auto"] = Field(default="auto", description="Where to run.")
    dtype: Literal["float32", "float16", "bfloat16"] = Field(
        default="float32", description="Weights dtype; float16 for GPUs."
    )
    num_threads: int | None = Field(default=None, ge=1, description="torch threads on CPU.")
    timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a request waits on the model before the rules answer."
    )
    batching: BatchingConfig = Field(default_factory=BatchingConfig)
    deployment: DeploymentOptions = Field(default_factory=DeploymentOptions)

    @field_validator("source")
    @classmethod
    def _source(cls, value: str) -> str:
        return check_source(value, BUILTIN_LMS)

    @model_validator(mode="after")
    def _batch_fits(self) -> "EnhancerConfig":
        check_batches_can_fill(self.deployment, self.batching)
        return self

    def serve_options(self) -> dict[str, Any]:
        """Serve options of the LLM deployment, with the same batching-aware defaults as a model's."""
        return batched_serve_options(self.deployment, self.batching)

    def to_enhancer_config(self, *, cache_dir: str | None) -> PromptEnhancerConfig:
        return PromptEnhancerConfig(
            source=self.source,
            cache_dir=cache_dir,
            device=self.device,
            dtype=self.dtype,
            num_threads=self.num_threads,
            max_new_tokens=self.max_new_tokens,
            temperature=self.temperature,
            batching=self.batching,
        )
