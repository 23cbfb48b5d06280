"""Every entry point fits its request to a model the same way: sizes of every aspect ratio, the
model's defaults, the seed rule and the prompt cap. Where an entry point is meant to differ (the
GET-image ratios, the hero image's shape), the difference is tested too."""

import io

import pytest
from fastapi import UploadFile
from pydantic import ValidationError

from deployments.protocol import PROMPT_MAX_CHARS, GenerationResult
from serve_app.config import ModelConfig
from serve_app.fitting import (
    ASPECT_RATIOS,
    HERO_ASPECT_RATIO,
    IMAGE_URL_ASPECT_RATIOS,
    MAX_SEED,
    fit,
    hero_size,
    nth_seed,
    seed_or_random,
    size_for_aspect_ratio,
)
from serve_app.schemas.generate import GenerateRequest, HiresRequest
from serve_app.schemas.image_url import ImageQuery
from serve_app.schemas.openai import ImagesEditRequest, ImagesGenerationRequest
from serve_app.schemas.prompts import EnhanceRequest
from serve_app.schemas.upscale import UpscaleRequest
from serve_app.services.upscale import hires_plan
from tests.factories import make_config, tiny_model_entry, tiny_upscaler_entry

TINY = make_config().models[0]  # 64–256 px, default 64x64
LARGE = make_config(
    models=[tiny_model_entry(min_size=256, max_size=1536, default_width=1024, default_height=1024)]
).models[0]
# Large enough for every ratio's tiny size, enlarged 4 times.
CONFIG = make_config(models=[tiny_model_entry(), tiny_upscaler_entry(max_size=1024)])
UPSCALER = CONFIG.model("tiny-upscaler")
MODELS = pytest.mark.parametrize("model", [TINY, LARGE], ids=["tiny", "1024"])


def a_model(default: int, *, min_size: int = 256, max_size: int = 2048) -> ModelConfig:
    return ModelConfig(
        slug="m",
        name="M",
        source="builtin:tiny-sd",
        min_size=min_size,
        max_size=max_size,
        default_width=default,
        default_height=default,
    )


def edit_request(prompt: str = "a fox", **fields) -> ImagesEditRequest:
    return ImagesEditRequest(image=UploadFile(io.BytesIO(b""), filename="in.png"), prompt=prompt, **fields)


# The size rule itself.


def test_a_square_is_the_models_default_size():
    assert size_for_aspect_ratio(a_model(1024), "1:1") == (1024, 1024)
    assert size_for_aspect_ratio(a_model(512), "1:1") == (512, 512)


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_each_ratio_keeps_about_the_default_pixel_count_in_multiples_of_8(ratio):
    across, down = (int(part) for part in ratio.split(":"))
    width, height = size_for_aspect_ratio(a_model(1024), ratio)
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width / height - across / down) < 0.02
    assert 0.95 < width * height / 1024**2 < 1.05


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
@MODELS
def test_each_ratio_fits_the_models_limits_in_its_orientation(ratio, model):
    across, down = (int(part) for part in ratio.split(":"))
    width, height = size_for_aspect_ratio(model, ratio)
    assert model.min_size <= width <= model.max_size and model.min_size <= height <= model.max_size
    assert (width > height) == (across > down) and (width < height) == (across < down)


def test_clamping_into_the_limits_scales_both_sides_and_keeps_the_ratio():
    assert size_for_aspect_ratio(a_model(1024, max_size=1024), "16:9") == (1024, 576)
    assert size_for_aspect_ratio(a_model(64, min_size=64, max_size=256), "16:9") == (112, 64)


# Each entry point, for every ratio it takes.


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
@MODELS
def test_generate_draws_each_ratio_at_the_models_size_for_it(ratio, model):
    params = GenerateRequest(prompt="a fox", aspect_ratio=ratio).to_params(model, seed=1)
    assert (params.width, params.height) == size_for_aspect_ratio(model, ratio)


@pytest.mark.parametrize("ratio", IMAGE_URL_ASPECT_RATIOS)
@MODELS
def test_the_image_url_draws_each_of_its_ratios_at_the_models_size_for_it(ratio, model):
    params = ImageQuery(prompt="a fox", aspect_ratio=ratio).to_params(model, seed=1)
    assert (params.width, params.height) == size_for_aspect_ratio(model, ratio)


def test_the_image_url_ratios_are_a_subset_of_the_native_ones():
    assert set(IMAGE_URL_ASPECT_RATIOS) < set(ASPECT_RATIOS)


@pytest.mark.parametrize("ratio", sorted(set(ASPECT_RATIOS) - set(IMAGE_URL_ASPECT_RATIOS)))
def test_the_image_url_refuses_the_other_native_ratios(ratio):
    with pytest.raises(ValidationError) as caught:
        ImageQuery(prompt="a fox", aspect_ratio=ratio)
    assert caught.value.errors()[0]["loc"] == ("aspect_ratio",)


@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
@MODELS
def test_openai_takes_each_ratios_size_as_the_catalog_lists_it(ratio, model):
    width, height = size_for_aspect_ratio(model, ratio)
    (generated,) = ImagesGenerationRequest(prompt="a fox", size=f"{width}x{height}").to_params(model, seed=1)
    (edited,) = edit_request(size=f"{width}x{height}").to_params(model, seed=1)
    assert (generated.width, generated.height) == (edited.width, edited.height) == (width, height)


@MODELS
def test_openai_auto_is_the_models_default_size(model):
    (generated,) = ImagesGenerationRequest(prompt="a fox").to_params(model, seed=1)
    (edited,) = edit_request().to_params(model, seed=1)
    expected = (model.default_width, model.default_height)
    assert (generated.width, generated.height) == (edited.width, edited.height) == expected


@MODELS
def test_a_hero_image_is_the_models_og_image_shaped_size(model):
    width, height = hero_size(model)
    assert (width, height) == size_for_aspect_ratio(model, HERO_ASPECT_RATIO)
    assert 1.5 < width / height < 2.0


def test_configured_hero_sides_take_precedence_over_the_fitted_ones():
    assert hero_size(TINY, width=200, height=104) == (200, 104)
    assert hero_size(TINY, width=200) == (200, hero_size(TINY)[1])


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_upscale_enlarges_each_ratios_image_by_the_scale(ratio, scale):
    width, height = size_for_aspect_ratio(TINY, ratio)
    request = UpscaleRequest(image="data:,", scale=scale)
    params = request.to_params(UPSCALER, seed=1, input_size=(width, height))
    assert (params.width, params.height) == (width * scale, height * scale)


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("ratio", ASPECT_RATIOS)
def test_hires_enlarges_each_ratios_drawing_by_the_scale(ratio, scale):
    request = GenerateRequest(prompt="a fox", aspect_ratio=ratio, hires=HiresRequest(scale=scale))
    drawn = request.to_params(TINY, seed=1)
    result = GenerationResult(
        image=b"", content_type="image/png", width=drawn.width, height=drawn.height, seed=1, inference_seconds=0
    )
    enlarged = hires_plan(CONFIG, request, drawn).params_for(drawn, result)
    assert (enlarged.width, enlarged.height) == (drawn.width * scale, drawn.height * scale)


# Defaults, seeds and the prompt cap.


ENTRY_POINTS = {
    "generate": lambda: GenerateRequest(prompt="a fox").to_params(TINY, seed=1),
    "image_url": lambda: ImageQuery(prompt="a fox").to_params(TINY, seed=1),
    "openai": lambda: ImagesGenerationRequest(prompt="a fox").to_params(TINY, seed=1)[0],
    "openai_edit": lambda: edit_request().to_params(TINY, seed=1)[0],
    "upscale": lambda: UpscaleRequest(image="data:,").to_params(UPSCALER, seed=1, input_size=(16, 16)),
}


@pytest.mark.parametrize("entry_point", ENTRY_POINTS)
def test_every_entry_point_leaves_unset_steps_and_guidance_to_the_model(entry_point):
    params = ENTRY_POINTS[entry_point]()
    model = UPSCALER if entry_point == "upscale" else TINY
    assert (params.num_inference_steps, params.guidance_scale) == (model.default_steps, model.default_guidance_scale)


def test_strength_defaults_by_mode_and_a_given_one_is_kept():
    assert fit(TINY, prompt="a", width=64, height=64, seed=1, mode="img2img").strength == 0.8
    assert fit(TINY, prompt="a", width=64, height=64, seed=1, mode="inpaint").strength == 1.0
    assert fit(TINY, prompt="a", width=64, height=64, seed=1, mode="img2img", strength=0.3).strength == 0.3


def test_a_given_seed_is_kept_and_a_missing_one_is_drawn_within_the_range():
    assert seed_or_random(0) == 0 and seed_or_random(MAX_SEED) == MAX_SEED
    assert all(0 <= seed_or_random(None) <= MAX_SEED for _ in range(100))


def test_image_i_of_a_request_uses_seed_plus_i_wrapping_at_the_top_of_the_range():
    assert [nth_seed(5, i) for i in range(3)] == [5, 6, 7]
    assert nth_seed(MAX_SEED, 1) == 0
    seeds = [p.seed for p in ImagesGenerationRequest(prompt="a", n=2).to_params(TINY, seed=MAX_SEED)]
    assert seeds == [MAX_SEED, 0]


PROMPTED = {
    "generate": lambda prompt: GenerateRequest(prompt=prompt),
    "image_url": lambda prompt: ImageQuery(prompt=prompt),
    "openai": lambda prompt: ImagesGenerationRequest(prompt=prompt),
    "openai_edit": lambda prompt: edit_request(prompt=prompt),
    "upscale": lambda prompt: UpscaleRequest(image="data:,", prompt=prompt),
    "enhance": lambda prompt: EnhanceRequest(prompt=prompt),
}


@pytest.mark.parametrize("entry_point", PROMPTED)
def test_every_entry_point_caps_the_prompt_at_the_one_limit(entry_point):
    PROMPTED[entry_point]("x" * PROMPT_MAX_CHARS)
    with pytest.raises(ValidationError) as caught:
        PROMPTED[entry_point]("x" * (PROMPT_MAX_CHARS + 1))
    assert caught.value.errors()[0]["loc"] == ("prompt",)
