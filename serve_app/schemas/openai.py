"""Wire models of the OpenAI Images API (`/v1/images/generations`, `/v1/models`), fields in
OpenAI's order; the extra fields pixelray accepts come last."""

import hashlib
import re
from dataclasses import replace
from typing import Any, Literal

from fastapi import UploadFile
from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.protocol import PROMPT_MAX_CHARS, GenerationParams
from serve_app.config import ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.fitting import MAX_SEED, fit, fits, nth_seed
from serve_app.schemas.common import Integer, PromptText, StrictRequest, Text

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
# What `style` adds to the prompt; the result comes back as `revised_prompt`.
STYLE_TERMS = {"vivid": "vivid, hyper-real, dramatic colors", "natural": "natural, realistic colors"}


def _valid_size(value: str) -> str:
    if value != "auto" and not _SIZE.match(value):
        raise ValueError(f"{value!r} is not a size; use WIDTHxHEIGHT such as 512x512, or auto")
    return value


class ImagesGenerationRequest(StrictRequest):
    """OpenAI's image request. Besides each field's limits, the server enforces (a 400 names the
    field): `size` within the chosen model's min_size–max_size in multiples of 8, `n` up to the
    model's max_count and the plan's max_images_per_request, and `negative_prompt` only for
    models that take one (GET /api/v1/models)."""

    prompt: PromptText = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="What to draw.")
    model: str | None = Field(
        default=None,
        description="A catalog slug; OpenAI names (`dall-e-3`, `gpt-image-1`, ...) pick by `quality`.",
    )
    n: Integer = Field(default=1, ge=1, le=10, description="Images to generate, up to the model's and plan's max.")
    quality: Literal["auto", "low", "medium", "high", "standard", "hd"] = Field(
        default="auto", description="Picks the chain `quality/fast|balanced|high`; `auto` is balanced."
    )
    response_format: Literal["url", "b64_json"] = Field(
        default="url", description="A hosted URL, or the image itself base64-encoded."
    )
    output_format: Literal["png", "jpeg", "webp"] = Field(default="png", description="Encoding of the image.")
    size: str = Field(default="auto", description="`WxH` within the model's limits, or `auto`.")
    style: Literal["vivid", "natural"] | None = Field(default=None, description="Adds style terms to the prompt.")
    user: str | None = Field(default=None, max_length=256, description="Your end user's id; not used.")
    negative_prompt: Text | None = Field(
        default=None, max_length=1000, description="pixelray extra: what to keep out of the image."
    )
    seed: Integer | None = Field(
        default=None, ge=0, le=MAX_SEED, description="pixelray extra: image i uses seed + i; random if unset."
    )
    steps: Integer | None = Field(
        default=None, ge=1, le=50, description="pixelray extra: denoising steps; the model's default if unset."
    )
    stream: bool = Field(
        default=False,
        description="Answer with Server-Sent Events: `image_generation.partial_image` previews, then "
        "`image_generation.completed`; one image (`n` = 1).",
    )
    partial_images: Integer = Field(
        default=0, ge=0, le=3, description="Previews to stream before the image (stream only); fewer on short runs."
    )

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        return _valid_size(value)

    @property
    def revised_prompt(self) -> str:
        return f"{self.prompt}, {STYLE_TERMS[self.style]}" if self.style else self.prompt

    def to_params(self, model: ModelConfig, *, seed: int) -> list[GenerationParams]:
        """One params per image; raises InvalidRequest naming the field when the model cannot take it."""
        if "text2img" not in model.modes:
            raise InvalidRequest(
                field="model",
                message=f"model {model.slug!r} does not draw from a prompt alone ({', '.join(model.modes)})",
            )
        width, height = model_size(self.size, model)
        if self.n > model.max_count:
            raise InvalidRequest(field="n", message=f"model {model.slug!r} draws at most {model.max_count} images")
        if self.negative_prompt and not model.supports_negative_prompt:
            raise InvalidRequest(
                field="negative_prompt", message=f"model {model.slug!r} does not take a negative prompt"
            )
        if self.stream and self.n != 1:
            raise InvalidRequest(field="n", message="a streamed request draws one image; use n=1 or stream=false")
        if self.partial_images and not self.stream:
            raise InvalidRequest(field="partial_images", message="partial_images needs stream=true")
        first = fit(
            model,
            prompt=self.revised_prompt,
            negative_prompt=self.negative_prompt,
            width=width,
            height=height,
            steps=self.steps,
            seed=seed,
            output_format=self.output_format,
        )
        steps = first.num_inference_steps
        # Evenly spread over the run; the last step is never previewed, the image itself follows.
        preview_every = max(1, steps // (self.partial_images + 1)) if self.partial_images else 0
        return [replace(first, seed=nth_seed(seed, i), preview_every=preview_every) for i in range(self.n)]


class ImagesEditRequest(StrictRequest):
    """`POST /v1/images/edits`, a multipart form: the masked area of `image` is redrawn."""

    # Form fields arrive as text: numbers are parsed from it, which strict types would refuse.
    model_config = ConfigDict(strict=False)

    image: UploadFile = Field(description="The image to edit: PNG, JPEG or WebP (≤ 10 MiB).")
    prompt: PromptText = Field(
        min_length=1, max_length=PROMPT_MAX_CHARS, description="What to draw in the masked area."
    )
    mask: UploadFile | None = Field(
        default=None,
        description="A PNG the size of `image` whose fully transparent pixels mark the area to redraw; "
        "unset: `image`'s own transparent pixels.",
    )
    model: str | None = Field(
        default=None, description="A catalog slug of an inpainting model; unset or an OpenAI name: the first one."
    )
    n: int = Field(default=1, ge=1, le=10, description="Images to generate, up to the model's and plan's max.")
    size: str = Field(default="auto", description="`WxH` within the model's limits, or `auto` (the model's default).")
    response_format: Literal["url", "b64_json"] = Field(
        default="url", description="A hosted URL, or the image itself base64-encoded."
    )
    output_format: Literal["png", "jpeg", "webp"] = Field(default="png", description="Encoding of the image.")
    user: str | None = Field(default=None, max_length=256, description="Your end user's id; not used.")
    seed: int | None = Field(
        default=None, ge=0, le=MAX_SEED, description="pixelray extra: image i uses seed + i; random if unset."
    )
    steps: int | None = Field(
        default=None, ge=1, le=50, description="pixelray extra: denoising steps; the model's default if unset."
    )

    @field_validator("size")
    @classmethod
    def _size(cls, value: str) -> str:
        return _valid_size(value)

    def identity(self, *, image: bytes, mask: bytes | None) -> dict[str, Any]:
        """What an Idempotency-Key binds: the form's fields, and the uploads by the SHA-256 of
        their bytes (their file names and declared types do not count)."""
        fields = self.model_dump(mode="json", exclude={"image", "mask"})
        digest = {"image": hashlib.sha256(image).hexdigest(), "mask": mask and hashlib.sha256(mask).hexdigest()}
        return {**fields, **digest}

    def to_params(self, model: ModelConfig, *, seed: int) -> list[GenerationParams]:
        """One inpainting params per image, its image and mask still to load; raises
        InvalidRequest naming the field the model cannot take."""
        width, height = model_size(self.size, model)
        if self.n > model.max_count:
            raise InvalidRequest(field="n", message=f"model {model.slug!r} draws at most {model.max_count} images")
        first = fit(
            model,
            prompt=self.prompt,
            width=width,
            height=height,
            steps=self.steps,
            seed=seed,
            output_format=self.output_format,
            mode="inpaint",
        )
        return [replace(first, seed=nth_seed(seed, i)) for i in range(self.n)]


def model_size(size: str, model: ModelConfig) -> tuple[int, int]:
    """(width, height) of an OpenAI `size` on `model`; `auto` is the model's default."""
    if size == "auto":
        return model.default_width, model.default_height
    width, height = map(int, size.split("x"))
    if not fits(model, width, height):
        raise InvalidRequest(
            field="size",
            message=f"{size} is not available for model {model.slug!r}: width and height "
            f"must be multiples of 8 within {model.min_size}–{model.max_size}, or use auto",
        )
    return width, height


class ImageObject(BaseModel):
    url: str | None = Field(default=None, description="Absolute URL of the image (response_format=url).")
    b64_json: str | None = Field(default=None, description="The image, base64 (response_format=b64_json).")
    revised_prompt: str = Field(description="The prompt the image was drawn from.")
    nsfw: bool | None = Field(
        default=None, description="pixelray: the model's safety checker flagged the image; absent when it runs none."
    )
    blocked: bool | None = Field(
        default=None,
        description="pixelray: the model's `block` policy withheld the flagged image (the image is a placeholder, "
        "its credits refunded); absent when the model runs no checker.",
    )


class ImagesResponse(BaseModel):
    created: int = Field(description="Unix time the images were created.")
    data: list[ImageObject]


class ImageGenPartialImageEvent(BaseModel):
    type: Literal["image_generation.partial_image"] = "image_generation.partial_image"
    b64_json: str = Field(description="A preview: the latents projected to RGB, no VAE decode.")
    created_at: int
    size: str
    quality: str
    background: Literal["opaque"] = "opaque"
    output_format: str
    partial_image_index: int


class ImageGenCompletedEvent(BaseModel):
    type: Literal["image_generation.completed"] = "image_generation.completed"
    b64_json: str
    created_at: int
    size: str
    quality: str
    background: Literal["opaque"] = "opaque"
    output_format: str
    nsfw: bool | None = Field(default=None, description="pixelray: as on the images of a response.")
    blocked: bool | None = Field(default=None, description="pixelray: as on the images of a response.")


ImageStreamEvent = ImageGenPartialImageEvent | ImageGenCompletedEvent


class OpenAIModel(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = Field(default=0, description="Unknown for catalog models: always 0.")
    owned_by: str = "pixelray"


class OpenAIModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIModel]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIError(BaseModel):
    error: OpenAIErrorBody
