"""Wire models of GET /api/v1/models."""

from pydantic import BaseModel, Field

from serve_app.config import ModelConfig
from serve_app.fitting import ASPECT_RATIOS, size_for_aspect_ratio


class ModelCredits(BaseModel):
    per_image: int
    per_megapixel: float | None


class ModelSizes(BaseModel):
    min: int
    max: int
    default_width: int
    default_height: int
    multiple_of: int = 8


class AdapterPublic(BaseModel):
    slug: str = Field(description="Name to give in a request's `lora` or `loras`.")
    name: str
    description: str
    default_weight: float = Field(description="Weight used when a request gives none.")
    credits_per_image: int = Field(description="Credits added to each image drawn with this adapter.")


class ModelPublic(BaseModel):
    slug: str
    name: str
    description: str
    credits: ModelCredits
    modes: list[str]
    supports_negative_prompt: bool
    sizes: ModelSizes
    aspect_ratios: dict[str, list[int]] = Field(
        description="Each accepted `aspect_ratio` and the [width, height] it draws at."
    )
    default_steps: int
    max_count: int
    default: bool = Field(description="Used when a request names no model.")
    adapters: list[AdapterPublic] = Field(description="LoRA adapters requests may apply to this model.")
    safety: str = Field(
        description="`none`; `flag`: each image carries `nsfw`; `block`: a flagged image is a placeholder, refunded."
    )

    @classmethod
    def from_config(cls, model: ModelConfig, *, default: bool) -> "ModelPublic":
        return cls(
            slug=model.slug,
            name=model.name,
            description=model.description,
            credits=ModelCredits(per_image=model.credits_per_image, per_megapixel=model.credits_per_megapixel),
            modes=list(model.modes),
            supports_negative_prompt=model.supports_negative_prompt,
            sizes=ModelSizes(
                min=model.min_size,
                max=model.max_size,
                default_width=model.default_width,
                default_height=model.default_height,
            ),
            aspect_ratios={ratio: list(size_for_aspect_ratio(model, ratio)) for ratio in ASPECT_RATIOS},
            default_steps=model.default_steps,
            max_count=model.max_count,
            default=default,
            adapters=[
                AdapterPublic(
                    slug=adapter.slug,
                    name=adapter.name,
                    description=adapter.description,
                    default_weight=adapter.default_weight,
                    credits_per_image=adapter.credits_per_image,
                )
                for adapter in model.adapters
            ],
            safety=model.safety.policy,
        )


class ModelList(BaseModel):
    models: list[ModelPublic]
