"""UpscaleRequest against an upscaler: output sizes within the model's, trimmed to multiples of 8."""

import pytest
from pydantic import ValidationError

from serve_app.errors import InvalidRequest
from serve_app.schemas.upscale import UpscaleRequest
from tests.factories import make_config, tiny_upscaler_entry

UPSCALER = make_config(models=[tiny_upscaler_entry()]).models[0]  # outputs of 64–256 px


def params(input_size, **fields):
    return UpscaleRequest(image="data:,", **fields).to_params(UPSCALER, seed=1, input_size=input_size)


@pytest.mark.parametrize(("input_size", "scale", "output"), [((40, 24), 4, (160, 96)), ((44, 60), 2, (80, 112))])
def test_the_output_is_the_input_trimmed_to_multiples_of_8_times_the_scale(input_size, scale, output):
    upscale = params(input_size, scale=scale)
    assert (upscale.width, upscale.height, upscale.scale, upscale.mode) == (*output, scale, "upscale")


@pytest.mark.parametrize(("input_size", "hint"), [((72, 24), "16–64 px"), ((8, 8), "16–64 px")])
def test_an_output_outside_the_models_sizes_is_rejected_on_image(input_size, hint):
    with pytest.raises(InvalidRequest) as caught:
        params(input_size, scale=4)
    assert caught.value.field == "image" and hint in caught.value.message


def test_only_scales_2_and_4():
    with pytest.raises(ValidationError):
        UpscaleRequest(image="data:,", scale=3)
