"""The GET-image query: aspect ratios scaled to each model's base resolution."""

import pytest

from serve_app.config import ModelConfig
from serve_app.schemas.image_url import ASPECT_RATIOS, ImageQuery, size_for


def model(default: int, *, min_size: int = 256, max_size: int = 2048) -> ModelConfig:
    return ModelConfig(
        slug="m", name="M", source="builtin:tiny-sd", min_size=min_size, max_size=max_size,
        default_width=default, default_height=default,
    )


def test_square_is_the_models_base_resolution():
    assert size_for(model(1024), "1:1") == (1024, 1024)
    assert size_for(model(512), "1:1") == (512, 512)


@pytest.mark.parametrize("ratio", sorted(ASPECT_RATIOS))
def test_each_ratio_keeps_about_the_base_pixel_count_in_multiples_of_8(ratio):
    width, height = size_for(model(1024), ratio)
    across, down = ASPECT_RATIOS[ratio]
    assert width % 8 == 0 and height % 8 == 0
    assert abs(width / height - across / down) < 0.02
    assert 0.95 < width * height / 1024**2 < 1.05


def test_sizes_are_scaled_into_the_models_limits_keeping_the_ratio():
    assert size_for(model(1024, max_size=1024), "16:9") == (1024, 576)
    assert size_for(model(64, min_size=64, max_size=256), "16:9") == (112, 64)


def test_the_prompt_is_normalized_for_whitespace_only():
    query = ImageQuery(prompt="  A  Sunset\n over\tHills ")
    assert query.normalized_prompt == "A Sunset over Hills"
    params = query.to_params(model(512), seed=3)
    assert (params.prompt, params.output_format, params.seed) == ("A Sunset over Hills", "webp", 3)
