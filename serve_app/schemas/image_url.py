"""Wire models of the GET-image endpoints (`/p/{project}/image`) and of GET /api/v1/routes."""

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.protocol import PROMPT_MAX_CHARS, GenerationParams
from serve_app.config import ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.fitting import MAX_SEED, ImageUrlAspectRatio, fit, size_for_aspect_ratio
from serve_app.schemas.common import PromptText
from serve_app.schemas.generate import MAX_LORAS, LoraRequest, adapters_for

ImageFormat = Literal["webp", "png", "jpeg"]


class ImageQuery(BaseModel):
    """The query of `GET /p/{project}/image`; unknown parameters are a VALIDATION_ERROR."""

    # Not StrictRequest's strict types: every query value arrives as a string to be parsed.
    model_config = ConfigDict(extra="forbid")

    prompt: PromptText = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="What to draw.")
    route: str | None = Field(
        default=None, description="A fallback chain such as `quality/fast` (see GET /api/v1/routes)."
    )
    model: str | None = Field(default=None, description="A catalog slug; exclusive with `route`.")
    aspect_ratio: ImageUrlAspectRatio = Field(default="1:1", description="Scaled to the model's base resolution.")
    seed: int | None = Field(default=None, ge=0, le=MAX_SEED, description="Fixes the image; random if unset.")
    cache: bool = Field(default=True, description="`false` forces a new generation.")
    format: ImageFormat = Field(default="webp", description="Encoding of the image.")
    lora: list[str] = Field(
        default_factory=list,
        description=f"LoRA adapters of `model` (not with `route`): `slug` at its default weight or `slug:weight` "
        f"(-2 to 2), repeated (`lora=a&lora=b:0.5`) or comma-separated (`lora=a,b:0.5`), up to {MAX_LORAS}; "
        "each adds its surcharge.",
    )
    sig: str | None = Field(default=None, description="URL signature, for projects that require one.")
    exp: int | None = Field(default=None, ge=0, le=2**63 - 1, description="Unix time after which a signed URL expires.")

    @property
    def normalized_prompt(self) -> str:
        """Whitespace collapsed: the only normalization, so the cache never merges distinct prompts."""
        return " ".join(self.prompt.split())

    def adapters_for(self, model: ModelConfig) -> tuple[tuple[str, float], ...]:
        """`lora` as (slug, weight) pairs of `model`, sorted, defaults applied; InvalidRequest on `lora`."""
        entries = [entry.strip() for value in self.lora for entry in value.split(",") if entry.strip()]
        if not entries:
            return ()
        if self.route is not None:
            raise InvalidRequest(
                field="lora", message="adapters belong to one model: send `model` with `lora`, not `route`"
            )
        if len(entries) > MAX_LORAS:
            raise InvalidRequest(field="lora", message=f"{len(entries)} adapters; name at most {MAX_LORAS}")
        return adapters_for(model, [_lora(entry) for entry in entries], field="lora")

    def to_params(self, model: ModelConfig, *, seed: int) -> GenerationParams:
        """The image on `model` (each model of a chain draws the ratio at its own size)."""
        width, height = size_for_aspect_ratio(model, self.aspect_ratio)
        return fit(
            model,
            prompt=self.normalized_prompt,
            width=width,
            height=height,
            seed=seed,
            output_format=self.format,
            adapters=self.adapters_for(model),
        )


def _lora(entry: str) -> LoraRequest:
    """`slug` or `slug:weight`; InvalidRequest on `lora` for a weight that is no number in -2–2."""
    slug, colon, weight = entry.partition(":")
    value: float | None = None
    if colon:
        try:
            value = float(weight)
        except ValueError:
            value = math.nan
        if not -2 <= value <= 2:
            raise InvalidRequest(field="lora", message=f"{entry!r}: the weight after ':' must be a number from -2 to 2")
    # Unvalidated: the catalog is the judge of the slug (`adapters_for` names an unknown one).
    return LoraRequest.model_construct(slug=slug, weight=value)


class ChainPublic(BaseModel):
    name: str = Field(description="What to pass as `route`, e.g. quality/fast.")
    models: list[str] = Field(description="Catalog slugs, tried in this order.")


class ChainList(BaseModel):
    # The wire keeps `routes`: requests name a chain in their `route` parameter.
    routes: list[ChainPublic]
