"""Wire model of POST /api/v1/upscale: an image in, the same image larger out (as GenerateData)."""

import re
from typing import Literal

from pydantic import Field, field_validator

from deployments.protocol import GenerationParams
from serve_app.config import ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.schemas.common import Integer, StrictRequest, Text
from serve_app.schemas.generate import IMAGE_SOURCE_PATTERN, MAX_IMAGE_FIELD, MAX_SEED


class UpscaleRequest(StrictRequest):
    image: str = Field(
        max_length=MAX_IMAGE_FIELD,
        json_schema_extra={"pattern": IMAGE_SOURCE_PATTERN},
        description="The image to enlarge: an http(s) URL or a data: URL of a PNG, JPEG or WebP (≤ 10 MiB). "
        "Its sides are trimmed to multiples of 8 pixels.",
    )
    scale: Literal[2, 4] = Field(default=4, description="How many times wider and taller the result is.")
    prompt: Text = Field(default="", max_length=2000, description="Guides the detail the upscaler adds; may be empty.")
    model: str | None = Field(default=None, description="An upscaler's catalog slug; the first upscaler if unset.")
    num_inference_steps: Integer | None = Field(
        default=None, ge=1, le=50, description="Denoising steps; the model's default if unset."
    )
    seed: Integer | None = Field(default=None, ge=0, le=MAX_SEED, description="Same seed and input, same result.")
    output_format: Literal["png", "jpeg", "webp"] = Field(default="png", description="Encoding of the result.")

    @field_validator("image")
    @classmethod
    def _image_source(cls, value: str) -> str:
        # Only the form is checked here; the image is fetched and decoded by the service.
        if not re.match(IMAGE_SOURCE_PATTERN, value):
            raise ValueError("give an http(s) URL or a data: URL of a PNG, JPEG or WebP image")
        return value

    def to_params(
        self, model: ModelConfig, *, seed: int, image: bytes, input_size: tuple[int, int]
    ) -> GenerationParams:
        """The upscale of `image` (`input_size` pixels); InvalidRequest on `image` when the result
        would fall outside the model's sizes."""
        width, height = (side // 8 * 8 * self.scale for side in input_size)
        if not (model.min_size <= width <= model.max_size and model.min_size <= height <= model.max_size):
            low, high = -(-model.min_size // self.scale), model.max_size // self.scale
            raise InvalidRequest(
                field="image",
                message=f"{input_size[0]}x{input_size[1]} enlarged x{self.scale} would be {width}x{height}; model "
                f"{model.slug!r} makes {model.min_size}–{model.max_size} px sides, so send sides of {low}–{high} px "
                "at this scale",
            )
        return GenerationParams(
            prompt=self.prompt,
            width=width,
            height=height,
            num_inference_steps=self.num_inference_steps or model.default_steps,
            guidance_scale=model.default_guidance_scale,
            seed=seed,
            output_format=self.output_format,
            mode="upscale",
            init_image=image,
            scale=self.scale,
        )
