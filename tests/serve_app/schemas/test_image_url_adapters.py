"""`lora` on the GET-image query: both spellings, weights, and what is refused (a 400 on `lora`)."""

import pytest

from serve_app.errors import InvalidRequest
from serve_app.schemas.image_url import ImageQuery
from tests.factories import make_config, tiny_lora_entry

MODEL = make_config(models=[tiny_lora_entry()]).models[0]  # tiny-style (1 credit) and tiny-routing


def adapters(*lora: str, **fields):
    return ImageQuery(prompt="a fox", lora=list(lora), **fields).adapters_for(MODEL)


def test_no_lora_is_no_adapter():
    assert adapters() == ()


def test_repeated_and_comma_separated_are_the_same_sorted_set_with_defaults_applied():
    assert adapters("tiny-style, tiny-routing:0.5") == adapters("tiny-routing:0.5", "tiny-style")
    assert adapters("tiny-style", "tiny-routing:0.5") == (("tiny-routing", 0.5), ("tiny-style", 1.0))


def test_the_adapters_reach_the_params_and_the_price():
    params = ImageQuery(prompt="a fox", lora=["tiny-style:-1.5"]).to_params(MODEL, seed=1)
    assert params.adapters == (("tiny-style", -1.5),)
    assert MODEL.credit_cost(width=params.width, height=params.height, adapters=["tiny-style"]) == 2


@pytest.mark.parametrize(
    ("lora", "fields", "named"),
    [
        (["watercolour"], {}, "watercolour"),
        (["tiny-style:3"], {}, "tiny-style:3"),
        (["tiny-style:x"], {}, "tiny-style:x"),
        (["tiny-style,tiny-style:0.5"], {}, "tiny-style"),
        (["tiny-style"], {"route": "quality/fast"}, "route"),
        (["a,b,c,d,e"], {}, "at most 4"),
    ],
)
def test_bad_adapters_are_refused_on_lora_naming_the_value(lora, fields, named):
    with pytest.raises(InvalidRequest) as info:
        adapters(*lora, **fields)
    assert info.value.field == "lora" and named in info.value.message
