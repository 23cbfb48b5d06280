"""GenerateRequest against a model: every field at and beyond its bounds (sizes of aspect ratios: test_fitting.py)."""

import pytest
from pydantic import ValidationError

from serve_app.errors import InvalidRequest
from serve_app.fitting import ASPECT_RATIOS
from serve_app.schemas.generate import GenerateRequest
from tests.factories import make_config, tiny_model_entry

TINY = make_config().models[0]  # 64–256, default 64x64, max_count 4


def params(**fields):
    return GenerateRequest(prompt="a fox", **fields).to_params(TINY, seed=1)


def rejected(**fields) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        params(**fields)
    return caught.value


@pytest.mark.parametrize(
    ("field", "inside", "outside"),
    [
        ("prompt", ["x", "x" * 2000], ["", "x" * 2001]),
        ("negative_prompt", ["x" * 1000], ["x" * 1001]),
        ("width", [8, 4096], [0, 4104, 100]),
        ("num_inference_steps", [1, 50], [0, 51]),
        ("guidance_scale", [0, 30], [-0.1, 30.1]),
        ("seed", [0, 2**32 - 1], [-1, 2**32]),
        ("count", [1, 100], [0, 101]),
        ("strength", [0.01, 1], [0, 1.01]),
        ("mode", ["text2img", "img2img", "inpaint"], ["outpaint"]),
        ("output_format", ["png", "jpeg", "webp"], ["gif"]),
        ("aspect_ratio", list(ASPECT_RATIOS), ["7:3", "1:1 "]),
    ],
)
def test_static_bounds_of_each_field(field, inside, outside):
    values = {"prompt": "a fox"}
    for value in inside:
        GenerateRequest.model_validate({**values, field: value})
    for value in outside:
        with pytest.raises(ValidationError) as caught:
            GenerateRequest.model_validate({**values, field: value})
        assert caught.value.errors()[0]["loc"] == (field,)


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError, match="colour"):
        GenerateRequest.model_validate({"prompt": "a", "colour": "red"})


def test_sizes_default_from_the_model_and_hold_at_its_limits():
    assert (params().width, params().height) == (64, 64)
    assert (params(width=256, height=64).width, params(width=256, height=64).height) == (256, 64)
    assert rejected(width=264).field == "width"
    assert rejected(height=56).field == "height"


def test_count_above_the_models_max_is_rejected():
    assert params(count=4).seed == 1
    error = rejected(count=5)
    assert error.field == "count" and "1–4" in error.message


def test_negative_prompt_on_a_model_without_one_is_rejected():
    model = make_config(models=[tiny_model_entry(supports_negative_prompt=False)]).models[0]
    with pytest.raises(InvalidRequest) as caught:
        GenerateRequest(prompt="a", negative_prompt="blur").to_params(model, seed=1)
    assert caught.value.field == "negative_prompt"


def test_img2img_rules():
    text_only = make_config(models=[tiny_model_entry(modes=["text2img"])]).models[0]
    with pytest.raises(InvalidRequest) as caught:
        GenerateRequest(prompt="a", mode="img2img", image="data:,").to_params(text_only, seed=1)
    assert caught.value.field == "mode" and "text2img" in caught.value.message
    assert rejected(mode="img2img").field == "image"
    assert rejected(image="https://example.org/a.png").field == "image"
    assert rejected(strength=0.5).field == "strength"
    img2img = params(mode="img2img", image="data:image/png;base64,AAAA", strength=0.5)
    assert (img2img.mode, img2img.strength) == ("img2img", 0.5)
    # 2 steps × 0.3 rounds down to no denoising step at all.
    assert rejected(mode="img2img", image="data:,", strength=0.3).field == "strength"


def test_aspect_ratio_excludes_width_and_height():
    assert rejected(aspect_ratio="16:9", width=128).field == "aspect_ratio"


def test_an_aspect_ratio_sets_the_generated_size():
    generated = params(aspect_ratio="16:9")
    assert generated.width > generated.height
