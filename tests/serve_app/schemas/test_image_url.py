"""The GET-image query (its sizes of aspect ratios: test_fitting.py)."""

from serve_app.config import ModelConfig
from serve_app.schemas.image_url import ImageQuery

MODEL = ModelConfig(slug="m", name="M", source="builtin:tiny-sd", default_width=512, default_height=512)


def test_the_prompt_is_normalized_for_whitespace_only():
    query = ImageQuery(prompt="  A  Sunset\n over\tHills ")
    assert query.normalized_prompt == "A Sunset over Hills"
    params = query.to_params(MODEL, seed=3)
    assert (params.prompt, params.output_format, params.seed) == ("A Sunset over Hills", "webp", 3)
