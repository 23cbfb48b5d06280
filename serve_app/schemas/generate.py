"""Wire models of POST /api/v1/generate (and its product/logo variants): one image request,
a batch of them, and what comes back."""

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from deployments.protocol import PROMPT_MAX_CHARS, GenerationParams
from serve_app.config import ModelConfig
from serve_app.errors import InvalidRequest
from serve_app.fitting import MAX_SEED, AspectRatio, fit, fits, size_for_aspect_ratio
from serve_app.schemas.common import ErrorBody, Integer, PromptText, StrictRequest, Text
from serve_app.schemas.webhooks import WEBHOOK_URL_DESCRIPTION, check_webhook_url

# A data: URL of the largest accepted input image (10 MiB), base64-encoded, plus its header.
MAX_IMAGE_FIELD = 14 * 1024 * 1024 + 100

# The rules that join fields, as JSON Schema, so that generated clients know them; the model's
# own limits (sizes, modes, count, negative prompt) depend on the catalog and are described instead.
_CROSS_FIELD_RULES: dict[str, Any] = {
    "allOf": [
        {
            "if": {"properties": {"aspect_ratio": {"type": "string"}}, "required": ["aspect_ratio"]},
            "then": {"properties": {"width": {"type": "null"}, "height": {"type": "null"}}},
        },
        {
            "if": {"properties": {"mode": {"enum": ["img2img", "inpaint"]}}, "required": ["mode"]},
            "then": {"required": ["image"], "properties": {"image": {"type": "string"}}},
            "else": {"properties": {"image": {"type": "null"}, "strength": {"type": "null"}}},
        },
        {
            "if": {"properties": {"mode": {"const": "inpaint"}}, "required": ["mode"]},
            "then": {"required": ["mask"], "properties": {"mask": {"type": "string"}}},
            "else": {"properties": {"mask": {"type": "null"}}},
        },
        {
            "if": {"properties": {"lora": {"type": "string"}}, "required": ["lora"]},
            "then": {"properties": {"loras": {"type": "null"}}},
        },
    ]
}
# What the `image` validator accepts, in a pattern every JSON Schema engine reads (no inline flags).
IMAGE_SOURCE_PATTERN = "^([hH][tT][tT][pP][sS]?://|[dD][aA][tT][aA]:)"


MAX_LORAS = 4


class LoraRequest(StrictRequest):
    slug: str = Field(min_length=1, max_length=63, description="An adapter the model lists in GET /api/v1/models.")
    weight: float | None = Field(
        default=None, ge=-2, le=2, description="Strength; 0 leaves the model unchanged. The adapter's default if unset."
    )


def adapters_for(
    model: ModelConfig, loras: list[LoraRequest], *, field: str = "loras"
) -> tuple[tuple[str, float], ...]:
    """(slug, weight) pairs sorted by slug, defaults applied; InvalidRequest on `field` naming an
    unknown or repeated adapter."""
    pairs = []
    for lora in loras:
        adapter = model.adapter(lora.slug)
        if adapter is None:
            known = ", ".join(a.slug for a in model.adapters) or "none"
            raise InvalidRequest(
                field=field, message=f"unknown adapter {lora.slug!r} for model {model.slug!r}; its adapters: {known}"
            )
        pairs.append((adapter.slug, adapter.default_weight if lora.weight is None else lora.weight))
    slugs = [slug for slug, _ in pairs]
    repeated = sorted({slug for slug in slugs if slugs.count(slug) > 1})
    if repeated:
        raise InvalidRequest(field=field, message=f"adapter {repeated[0]!r} is named twice; name each once")
    return tuple(sorted(pairs))


class HiresRequest(StrictRequest):
    scale: Literal[2, 4] = Field(default=2, description="How many times wider and taller the final image is.")
    model: str | None = Field(default=None, description="An upscaler's catalog slug; the first upscaler if unset.")
    num_inference_steps: Integer | None = Field(
        default=None, ge=1, le=50, description="The upscaler's denoising steps; its default if unset."
    )


class GenerateRequest(StrictRequest):
    """One image request. Besides each field's limits, the server enforces (a 400 names the field):
    `aspect_ratio` excludes `width` and `height`; `lora` excludes `loras`; `"mode": "img2img"` and
    `"inpaint"` need `image`, and `image` and `strength` go only with them, where
    `num_inference_steps × strength` must be at least 1; `"inpaint"` needs `mask`, which goes only
    with it; the model (GET /api/v1/models) bounds `width` and `height` (its min_size–max_size),
    `count` (its max_count), `mode` (its modes), `negative_prompt` (only models that take one) and
    `lora`/`loras` (its adapters); the plan bounds `count` too (GET /api/v1/usage)."""

    model_config = ConfigDict(json_schema_extra=_CROSS_FIELD_RULES)

    prompt: PromptText = Field(min_length=1, max_length=PROMPT_MAX_CHARS, description="What to draw.")
    negative_prompt: Text | None = Field(
        default=None, max_length=1000, description="What to keep out of the image; only for models that take one."
    )
    width: Integer | None = Field(
        default=None, ge=8, le=4096, multiple_of=8, description="Pixels; the model's default if unset."
    )
    height: Integer | None = Field(
        default=None, ge=8, le=4096, multiple_of=8, description="Pixels; the model's default if unset."
    )
    aspect_ratio: AspectRatio | None = Field(
        default=None,
        description="A size in this ratio near the model's default pixel count; not with width/height.",
    )
    num_inference_steps: Integer | None = Field(
        default=None, ge=1, le=50, description="Denoising steps; the model's default if unset."
    )
    guidance_scale: float | None = Field(
        default=None, ge=0, le=30, description="Prompt adherence; the model's default if unset."
    )
    seed: Integer | None = Field(
        default=None, ge=0, le=MAX_SEED, description="Same seed and inputs, same image; random if unset."
    )
    model: str | None = Field(default=None, description="Catalog slug; the default model if unset.")
    count: Integer = Field(
        default=1,
        ge=1,
        le=100,
        description="Images to draw, up to the model's and the plan's maximum; image i uses seed + i.",
    )
    mode: Literal["text2img", "img2img", "inpaint"] = Field(
        default="text2img",
        description="`img2img` starts from `image`; `inpaint` redraws the white area of `mask` in `image`.",
    )
    image: str | None = Field(
        default=None,
        max_length=MAX_IMAGE_FIELD,
        json_schema_extra={"pattern": IMAGE_SOURCE_PATTERN},
        description="img2img and inpaint input: an http(s) URL or a data: URL of a PNG, JPEG or WebP (≤ 10 MiB).",
    )
    mask: str | None = Field(
        default=None,
        max_length=MAX_IMAGE_FIELD,
        json_schema_extra={"pattern": IMAGE_SOURCE_PATTERN},
        description="inpaint: an image the size of `image`, white where to redraw and black where to keep; "
        "an http(s) or data: URL.",
    )
    strength: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="img2img and inpaint: how far to move from the input (0–1; default 0.8 for img2img, "
        "1 for inpaint).",
    )
    output_format: Literal["png", "jpeg", "webp"] = Field(default="png", description="Encoding of the result.")
    enhance: bool = Field(
        default=False, description="Expand the prompt with the prompt enhancer first; see `revised_prompt`."
    )
    lora: str | None = Field(
        default=None, max_length=63, description="One LoRA adapter of the model at its default weight; see `loras`."
    )
    loras: list[LoraRequest] | None = Field(
        default=None,
        max_length=MAX_LORAS,
        description=f"LoRA adapters of the model with weights, up to {MAX_LORAS}; GET /api/v1/models lists them.",
    )
    hires: HiresRequest | None = Field(
        default=None,
        description="Draw at the requested size, then enlarge on an upscaler; the upscaler's price is added.",
    )

    @field_validator("image", "mask")
    @classmethod
    def _image_source(cls, value: str | None) -> str | None:
        # Only the form is checked here; the images are fetched and decoded once the request is paid.
        if value is not None and not re.match(IMAGE_SOURCE_PATTERN, value):
            raise ValueError("give an http(s) URL or a data: URL of a PNG, JPEG or WebP image")
        return value

    def to_params(self, model: ModelConfig, *, seed: int) -> GenerationParams:
        """Its first image on `model`, the model's defaults filling what it leaves unset; raises
        InvalidRequest naming the field. An img2img input is fetched and checked afterwards, only
        once everything else passed."""
        self._check_against(model)
        width, height = self._size_on(model)
        params = fit(
            model,
            prompt=self.prompt,
            negative_prompt=self.negative_prompt,
            width=width,
            height=height,
            steps=self.num_inference_steps,
            guidance_scale=self.guidance_scale,
            seed=seed,
            output_format=self.output_format,
            mode=self.mode,
            strength=self.strength,
            adapters=adapters_for(model, self.requested_loras, field="lora" if self.lora else "loras"),
        )
        steps, strength = params.num_inference_steps, params.strength
        # img2img runs only the last `steps × strength` steps (rounded down): none is no image.
        if self.mode in ("img2img", "inpaint") and int(steps * strength) < 1:
            raise InvalidRequest(
                field="strength",
                message=f"{strength} × {steps} steps leaves no denoising step; use strength ≥ {1 / steps:.3g} "
                "or more num_inference_steps",
            )
        return params

    def _size_on(self, model: ModelConfig) -> tuple[int, int]:
        """`aspect_ratio`'s size on the model, else `width` and `height`, each the model's default if unset."""
        if self.aspect_ratio is not None:
            width, height = size_for_aspect_ratio(model, self.aspect_ratio)
        else:
            width, height = self.width or model.default_width, self.height or model.default_height
        for field, value in (("width", width), ("height", height)):
            if not fits(model, value):
                raise InvalidRequest(
                    field=field,
                    message=f"{value} is outside {model.min_size}–{model.max_size} "
                    f"(multiples of 8) for model {model.slug!r}",
                )
        return width, height

    @property
    def requested_loras(self) -> list[LoraRequest]:
        return [LoraRequest(slug=self.lora)] if self.lora else list(self.loras or [])

    def _check_against(self, model: ModelConfig) -> None:
        """The rules that join fields, or a field and the model."""
        if self.lora and self.loras:
            raise InvalidRequest(field="lora", message="give either lora or loras, not both")
        if self.aspect_ratio is not None and (self.width or self.height):
            raise InvalidRequest(field="aspect_ratio", message="give either aspect_ratio or width/height, not both")
        if self.negative_prompt and not model.supports_negative_prompt:
            raise InvalidRequest(
                field="negative_prompt", message=f"model {model.slug!r} does not take a negative prompt"
            )
        if self.count > model.max_count:
            raise InvalidRequest(
                field="count", message=f"{self.count} is more than model {model.slug!r} allows (1–{model.max_count})"
            )
        if self.mode not in model.modes:
            raise InvalidRequest(
                field="mode", message=f"model {model.slug!r} supports {', '.join(model.modes)}, not {self.mode}"
            )
        if self.mode in ("img2img", "inpaint") and not self.image:
            raise InvalidRequest(field="image", message=f"{self.mode} needs an input image: an http(s) or data: URL")
        if self.mode == "inpaint" and not self.mask:
            raise InvalidRequest(
                field="mask", message="inpaint needs a mask: white where to redraw, as an http(s) or data: URL"
            )
        if self.mode != "inpaint" and self.mask:
            raise InvalidRequest(field="mask", message='mask is only used with "mode": "inpaint"')
        if self.mode == "text2img" and (self.image or self.strength is not None):
            field = "image" if self.image else "strength"
            raise InvalidRequest(field=field, message=f'{field} is only used with "mode": "img2img" or "inpaint"')


class BatchRequest(StrictRequest):
    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=100,
        description="Requests of the single form, run concurrently; at most the plan's max_batch_items.",
    )
    webhook_url: str | None = Field(default=None, max_length=2048, description=WEBHOOK_URL_DESCRIPTION)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        return check_webhook_url(value)


class StorageInfo(BaseModel):
    enabled: bool = Field(description="Storage is on for this user, plan and server.")
    stored: bool = Field(description="The images were stored and `image` is a hosted URL.")
    plan: str = Field(description="Slug of the user's plan.")


class GeneratedImage(BaseModel):
    id: str = Field(description="Image id, for GET/DELETE /api/v1/images/{id} when stored.")
    image: str = Field(description="Hosted URL, or a data: URL when storage is off.")
    seed: int
    nsfw: bool | None = Field(
        default=None,
        description="The model's safety checker flagged the image; null when the model runs none (its `safety` "
        "is `none`).",
    )
    blocked: bool = Field(
        default=False,
        description="The model's `block` policy withheld the flagged image: `image` is a placeholder and the "
        "image's credits were refunded.",
    )


class GenerateData(BaseModel):
    image: str = Field(description="The first image: hosted URL, or a data: URL when storage is off.")
    images: list[GeneratedImage] = Field(description="Every image, `count` of them.")
    seed: int = Field(description="The seed of the first image; send it again to reproduce the image.")
    model: str = Field(description="Slug of the model that drew the image.")
    width: int
    height: int
    mode: str
    storage: StorageInfo
    revised_prompt: str | None = Field(
        default=None, description="The enhanced prompt the image was drawn from, when `enhance` was set."
    )


class BatchItemResult(BaseModel):
    success: bool
    image: str | None = None
    images: list[GeneratedImage] | None = None
    seed: int | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    storage: StorageInfo | None = None
    revised_prompt: str | None = None
    error: ErrorBody | None = None


class BatchData(BaseModel):
    results: list[BatchItemResult] = Field(description="One per item, in item order.")
