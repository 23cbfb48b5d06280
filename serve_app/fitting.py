"""How a request becomes `GenerationParams` on a catalog model, for every entry point: sizes and
aspect ratios, the model's defaults and the seed rule (the prompt cap, shared with the prompt
enhancer, is `deployments.protocol.PROMPT_MAX_CHARS`). Each request type maps only its own fields
and calls `fit`; where an entry point is meant to differ (the GET-image ratios, the hero image's
shape), the difference is stated here, beside the rule it differs from."""

import math
import secrets
from typing import Any, Literal, get_args

from deployments.protocol import GenerationParams
from serve_app.config import ModelConfig

MAX_SEED = 2**32 - 1

AspectRatio = Literal["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "9:21", "21:9"]
ASPECT_RATIOS: tuple[str, ...] = get_args(AspectRatio)
# GET /p/{project}/image takes the six ratios of the image-URL services it mirrors (published in
# pages' <img> URLs, so the list only ever grows); every one is also a native ratio.
ImageUrlAspectRatio = Literal["1:1", "16:9", "9:16", "4:3", "3:4", "3:2"]
IMAGE_URL_ASPECT_RATIOS: tuple[str, ...] = get_args(ImageUrlAspectRatio)
# A hero image is shown as a page's og:image, whose usual shape is 1200×630.
HERO_ASPECT_RATIO = "40:21"

# Inpainting redraws the masked area from noise by default; img2img keeps some of its input.
_DEFAULT_STRENGTH = {"img2img": 0.8, "inpaint": 1.0}


def seed_or_random(seed: int | None) -> int:
    """The request's seed, or a random one when it gives none: the seed of its first image."""
    return secrets.randbelow(MAX_SEED + 1) if seed is None else seed


def nth_seed(seed: int, index: int) -> int:
    """Image `index` of a request draws with seed + index, wrapping within the seed range."""
    return (seed + index) % (MAX_SEED + 1)


def fits(model: ModelConfig, *sides: int) -> bool:
    """Every side within the model's size limits and a multiple of 8 (the latents' scale)."""
    return all(model.min_size <= side <= model.max_size and side % 8 == 0 for side in sides)


def size_for_aspect_ratio(model: ModelConfig, ratio: str) -> tuple[int, int]:
    """(width, height) in `ratio` ("W:H"), about as many pixels as the model's default size,
    scaled as a pair into its limits (so clamping keeps the orientation) and rounded to
    multiples of 8: `16:9` on a 1024×1024 model is 1368×768, 1024×576 when its max_size is 1024."""
    across, down = (int(part) for part in ratio.split(":"))
    pixels = model.default_width * model.default_height
    width, height = math.sqrt(pixels * across / down), math.sqrt(pixels * down / across)
    scale = max(1.0, model.min_size / min(width, height))
    scale = min(scale, model.max_size / max(width, height))

    def snap(side: float) -> int:
        return min(model.max_size, max(model.min_size, round(side * scale / 8) * 8))

    return snap(width), snap(height)


def hero_size(model: ModelConfig, *, width: int | None = None, height: int | None = None) -> tuple[int, int]:
    """A configured side as given, each other side the model's HERO_ASPECT_RATIO size's."""
    fitted_width, fitted_height = size_for_aspect_ratio(model, HERO_ASPECT_RATIO)
    return width or fitted_width, height or fitted_height


def fit(
    model: ModelConfig,
    *,
    prompt: str,
    width: int,
    height: int,
    seed: int,
    steps: int | None = None,
    guidance_scale: float | None = None,
    mode: str = "text2img",
    strength: float | None = None,
    **fields: Any,
) -> GenerationParams:
    """One image on `model`: what the request leaves unset (steps, guidance, img2img or inpaint
    strength) takes the model's default. `fields` are GenerationParams' other fields, as given."""
    return GenerationParams(
        prompt=prompt,
        width=width,
        height=height,
        num_inference_steps=steps or model.default_steps,
        guidance_scale=model.default_guidance_scale if guidance_scale is None else guidance_scale,
        seed=seed,
        mode=mode,
        strength=_DEFAULT_STRENGTH.get(mode, 0.8) if strength is None else strength,
        **fields,
    )
