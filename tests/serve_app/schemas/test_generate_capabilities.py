"""GenerateRequest's inpainting and LoRA fields against a model."""

import pytest

from serve_app.errors import InvalidRequest
from serve_app.schemas.generate import GenerateRequest
from tests.factories import TINY_ADAPTER, make_config, tiny_model_entry

MODEL = make_config(
    models=[
        tiny_model_entry(
            modes=["text2img", "inpaint"], adapters=[TINY_ADAPTER, {**TINY_ADAPTER, "slug": "b", "default_weight": 0.5}]
        )
    ]
).models[0]
IMAGE = "data:image/png;base64,AAAA"


def params(**fields):
    return GenerateRequest(prompt="a fox", **fields).to_params(MODEL, seed=1)


def rejected(**fields) -> InvalidRequest:
    with pytest.raises(InvalidRequest) as caught:
        params(**fields)
    return caught.value


def test_inpaint_needs_an_image_and_a_mask_and_redraws_fully_by_default():
    assert rejected(mode="inpaint", mask=IMAGE).field == "image"
    assert rejected(mode="inpaint", image=IMAGE).field == "mask"
    inpaint = params(mode="inpaint", image=IMAGE, mask=IMAGE)
    assert (inpaint.mode, inpaint.strength) == ("inpaint", 1.0)
    assert params(mode="inpaint", image=IMAGE, mask=IMAGE, strength=0.5).strength == 0.5


def test_a_mask_outside_inpaint_is_rejected():
    error = rejected(mask=IMAGE)
    assert error.field == "mask" and "inpaint" in error.message


def test_inpaint_on_a_model_without_it_names_the_mode():
    plain = make_config().models[0]
    with pytest.raises(InvalidRequest) as caught:
        GenerateRequest(prompt="a", mode="inpaint", image=IMAGE, mask=IMAGE).to_params(plain, seed=1)
    assert caught.value.field == "mode" and "inpaint" in caught.value.message


def test_loras_become_sorted_slug_weight_pairs_with_defaults():
    assert params(loras=[{"slug": "tiny-style", "weight": 0.3}, {"slug": "b"}]).adapters == (
        ("b", 0.5),
        ("tiny-style", 0.3),
    )
    assert params(lora="tiny-style").adapters == (("tiny-style", 1.0),)
    assert params().adapters == ()


def test_an_unknown_adapter_is_rejected_naming_it_and_the_known_ones():
    error = rejected(loras=[{"slug": "tiny-style"}, {"slug": "watercolour"}])
    assert error.field == "loras" and "'watercolour'" in error.message and "tiny-style" in error.message
    assert rejected(lora="watercolour").field == "lora"


def test_repeated_or_doubly_given_adapters_are_rejected():
    assert "twice" in rejected(loras=[{"slug": "b"}, {"slug": "b", "weight": 1}]).message
    assert rejected(lora="b", loras=[{"slug": "b"}]).field == "lora"


def test_adapters_add_their_surcharge_to_the_credit_cost():
    assert MODEL.credit_cost(width=64, height=64) == 1
    assert MODEL.credit_cost(width=64, height=64, adapters=["tiny-style"]) == 2
