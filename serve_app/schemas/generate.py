"""Wire models of POST /api/v1/generate."""

from pydantic import BaseModel, Field

from deployments.protocol import GenerationParams
from serve_app.config import ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.schemas.common import StrictRequest

MAX_SEED = 2**32 - 1


class GenerateRequest(StrictRequest):
    prompt: str = Field(min_length=1, max_length=2000, description="What to draw.")
    negative_prompt: str | None = Field(
        default=None, max_length=1000, description="What to keep out of the image."
    )
    width: int | None = Field(
        default=None, ge=8, le=4096, multiple_of=8, description="Pixels; the model's default if unset."
    )
    height: int | None = Field(
        default=None, ge=8, le=4096, multiple_of=8, description="Pixels; the model's default if unset."
    )
    num_inference_steps: int | None = Field(
        default=None, ge=1, le=50, description="Denoising steps; the model's default if unset."
    )
    guidance_scale: float | None = Field(
        default=None, ge=0, le=30, description="Prompt adherence; the model's default if unset."
    )
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Same seed and inputs, same image; random if unset."
    )
    model: str | None = Field(default=None, description="Catalog slug; the default model if unset.")
    enhance: bool = Field(
        default=False, description="Expand the prompt with the prompt enhancer first; see `revised_prompt`."
    )

    def to_params(self, model: ModelConfig, *, seed: int) -> GenerationParams:
        """Applies the model's defaults and limits; raises InvalidRequest naming the field."""
        sizes = {
            "width": self.width or model.default_width,
            "height": self.height or model.default_height,
        }
        for field, value in sizes.items():
            if not model.min_size <= value <= model.max_size:
                raise InvalidRequest(
                    field=field,
                    message=f"{value} is outside {model.min_size}–{model.max_size} "
                    f"(multiples of 8) for model {model.slug!r}",
                )
        if self.negative_prompt and not model.supports_negative_prompt:
            raise InvalidRequest(
                field="negative_prompt", message=f"model {model.slug!r} does not take a negative prompt"
            )
        return GenerationParams(
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=sizes["width"],
            height=sizes["height"],
            num_inference_steps=self.num_inference_steps or model.default_steps,
            guidance_scale=(
                model.default_guidance_scale if self.guidance_scale is None else self.guidance_scale
            ),
            seed=seed,
        )


class GenerateData(BaseModel):
    image: str = Field(description="Hosted URL of the image, or a data: URL when storage is off.")
    seed: int = Field(description="The seed used; send it again to reproduce the image.")
    model: str = Field(description="Slug of the model that drew the image.")
    width: int
    height: int
    revised_prompt: str | None = Field(
        default=None, description="The enhanced prompt the image was drawn from, when `enhance` was set."
    )
