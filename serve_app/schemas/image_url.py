"""Wire models of the GET-image endpoints (`/p/{project}/image`) and of GET /api/v1/routes."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from deployments.protocol import PROMPT_MAX_CHARS, GenerationParams
from serve_app.config import ModelConfig
from serve_app.fitting import MAX_SEED, ImageUrlAspectRatio, fit, size_for_aspect_ratio
from serve_app.schemas.common import PromptText

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
    sig: str | None = Field(default=None, description="URL signature, for projects that require one.")
    exp: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Unix time after which a signed URL expires."
    )

    @property
    def normalized_prompt(self) -> str:
        """Whitespace collapsed: the only normalization, so the cache never merges distinct prompts."""
        return " ".join(self.prompt.split())

    def to_params(self, model: ModelConfig, *, seed: int) -> GenerationParams:
        """The image on `model` (each model of a chain draws the ratio at its own size)."""
        width, height = size_for_aspect_ratio(model, self.aspect_ratio)
        return fit(
            model, prompt=self.normalized_prompt, width=width, height=height, seed=seed, output_format=self.format
        )


class RoutePublic(BaseModel):
    name: str = Field(description="What to pass as `route`, e.g. quality/fast.")
    models: list[str] = Field(description="Catalog slugs, tried in this order.")


class RouteList(BaseModel):
    routes: list[RoutePublic]
