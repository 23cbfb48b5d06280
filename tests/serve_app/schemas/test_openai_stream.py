"""The streaming fields of ImagesGenerationRequest: previews spread over the run, one image."""

import pytest

from serve_app.errors import InvalidRequest
from serve_app.schemas.openai import ImagesGenerationRequest
from tests.factories import make_config

TINY = make_config().models[0]


@pytest.mark.parametrize(("steps", "partial_images", "every"), [(4, 2, 1), (20, 3, 5), (8, 1, 4), (4, 0, 0)])
def test_previews_are_spread_evenly_over_the_steps(steps, partial_images, every):
    request = ImagesGenerationRequest(prompt="a fox", stream=True, partial_images=partial_images, steps=steps)
    (params,) = request.to_params(TINY, seed=1)
    assert params.preview_every == every and params.num_inference_steps == steps


@pytest.mark.parametrize(
    ("fields", "field"), [({"stream": True, "n": 2}, "n"), ({"partial_images": 1}, "partial_images")]
)
def test_a_stream_draws_one_image_and_previews_need_a_stream(fields, field):
    with pytest.raises(InvalidRequest) as caught:
        ImagesGenerationRequest(prompt="a fox", **fields).to_params(TINY, seed=1)
    assert caught.value.field == field
