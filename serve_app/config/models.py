"""The model catalog and the prompt enhancer: the model deployments beside the ingress, each
extending its deployment's own config (deployments/*/config.py) with what the application adds."""

import math
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from deployments.diffusion.adapters import AdapterSource
from deployments.diffusion.config import DiffusionConfig, DiffusionDeploymentConfig
from deployments.diffusion.safety import STAND_IN_MARKER
from deployments.prompt_enhancer.config import PromptEnhancerConfig, PromptEnhancerDeploymentConfig
from deployments.sources import BUILTIN_ADAPTERS, BUILTIN_CHECKERS, check_source
from serve_app.config.common import Slug, StrictModel

# What a catalog model can serve.
Mode = Literal["text2img", "img2img", "inpaint", "upscale"]


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


class SafetyConfig(StrictModel):
    """What a model does about unsafe images; `safety: flag` is short for `safety: {policy: flag}`."""

    policy: Literal["none", "flag", "block"] = Field(
        default="none",
        description="`none` runs no checker; `flag` returns every image with `nsfw: true/false`; `block` "
        "returns a placeholder instead of each flagged image and refunds that image's credits.",
    )
    checker: str = Field(
        default="CompVis/stable-diffusion-safety-checker",
        description="A Hub repo id or local directory holding diffusers' StableDiffusionSafetyChecker and its "
        "CLIP feature extractor, or `builtin:stand-in-safety`: a stand-in for tests and the built-in models "
        f"that flags an image when its prompt contains `{STAND_IN_MARKER}`, and is no safety checker.",
    )

    @model_validator(mode="before")
    @classmethod
    def _policy_alone(cls, value: Any) -> Any:
        return {"policy": value} if isinstance(value, str) else value

    @field_validator("checker")
    @classmethod
    def _checker(cls, value: str) -> str:
        return check_source(value, BUILTIN_CHECKERS)

    @property
    def checker_source(self) -> str | None:
        """The checker a replica loads; None under `none`."""
        return None if self.policy == "none" else self.checker


class ModelConfig(DiffusionDeploymentConfig):
    """One entry of the model catalog: what users see and pay, on top of how its deployment runs
    (`DiffusionDeploymentConfig`: source, device, batching, Serve options)."""

    slug: Slug = Field(description="Name used in requests and as the deployment name.")
    name: str = Field(description="Display name.")
    description: str = Field(default="", description="One line for the catalog.")
    modes: list[Mode] = Field(
        default_factory=lambda: list[Mode](["text2img"]),
        min_length=1,
        description="Supported modes; `upscale` (an upscaler such as stable-diffusion-x4-upscaler, "
        "serving POST /api/v1/upscale) stands alone.",
    )
    supports_negative_prompt: bool = Field(default=True, description="Accepts negative_prompt.")
    default_steps: int = Field(default=20, ge=1, le=50, description="Denoising steps by default.")
    default_guidance_scale: float = Field(default=7.5, ge=0, le=30, description="Classifier-free guidance by default.")
    min_size: int = Field(default=256, ge=8, description="Smallest width or height in pixels.")
    max_size: int = Field(default=1024, ge=8, description="Largest width or height in pixels.")
    default_width: int = Field(default=512, ge=8, description="Width when none is given.")
    default_height: int = Field(default=512, ge=8, description="Height when none is given.")
    credits_per_image: int = Field(default=1, ge=0, description="Credits charged per image.")
    credits_per_megapixel: float | None = Field(
        default=None, ge=0, description="Credits per megapixel; the larger cost applies."
    )
    max_count: int = Field(default=4, ge=1, description="Most images one request may ask for.")
    adapters: list[AdapterConfig] = Field(
        default_factory=list, description="LoRA adapters requests may apply to this model (`loras`)."
    )
    safety: SafetyConfig = Field(
        default_factory=SafetyConfig,
        description="Safety policy: `none`, `flag` or `block`, alone or with the `checker` that judges images.",
    )

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

    def credit_cost(self, *, width: int, height: int, adapters: Sequence[str] = ()) -> int:
        """Credits for one image: the larger of the per-image and per-megapixel costs, rounded up, at
        least 1, plus the surcharge of each adapter in `adapters`."""
        cost = float(self.credits_per_image)
        if self.credits_per_megapixel is not None:
            cost = max(cost, self.credits_per_megapixel * width * height / 1_000_000)
        surcharge = sum(adapter.credits_per_image for adapter in self.adapters if adapter.slug in adapters)
        return max(1, math.ceil(cost)) + surcharge

    def to_diffusion_config(self, *, cache_dir: str | None) -> DiffusionConfig:
        """What its replicas are bound with: its deployment settings as they are, and what they
        load for its modes and adapters; never its prices or names."""
        deployment = {name: getattr(self, name) for name in DiffusionDeploymentConfig.model_fields}
        return DiffusionConfig(
            **deployment,
            cache_dir=cache_dir,
            upscaler="upscale" in self.modes,
            adapters={a.slug: AdapterSource(source=a.source, weight_name=a.weight_name) for a in self.adapters},
            safety_checker=self.safety.checker_source,
        )


class EnhancerConfig(PromptEnhancerDeploymentConfig):
    """The prompt enhancer: rules in the ingress (no model), or a causal LM on its own deployment
    (`PromptEnhancerDeploymentConfig`: source, sampling, batching, Serve options)."""

    backend: Literal["rules", "llm"] = Field(
        default="rules", description="`rules` needs no model; `llm` runs `source` on a deployment."
    )
    timeout_s: float = Field(
        default=30.0, gt=0, description="Longest a request waits on the model before the rules answer."
    )

    def to_enhancer_config(self, *, cache_dir: str | None) -> PromptEnhancerConfig:
        """What its replicas are bound with: its deployment settings as they are."""
        deployment = {name: getattr(self, name) for name in PromptEnhancerDeploymentConfig.model_fields}
        return PromptEnhancerConfig(**deployment, cache_dir=cache_dir)
