"""A model's `safety` in the catalog: the policy alone or with its checker, and what replicas load."""

import pytest

from serve_app.config import ConfigError, parse_app_config
from tests.factories import STAND_IN_SAFETY, tiny_model_entry


def model(**overrides):
    return parse_app_config({"models": [tiny_model_entry(**overrides)]}).models[0]


def test_no_policy_loads_no_checker():
    tiny = model()
    assert tiny.safety.policy == "none" and tiny.to_diffusion_config(cache_dir=None).safety_checker is None


@pytest.mark.parametrize("policy", ["flag", "block"])
def test_a_policy_alone_is_judged_by_compvis_checker(policy):
    tiny = model(safety=policy)
    assert tiny.safety.policy == policy
    assert tiny.to_diffusion_config(cache_dir=None).safety_checker == "CompVis/stable-diffusion-safety-checker"


def test_the_long_form_names_the_checker():
    tiny = model(safety={"policy": "block", "checker": STAND_IN_SAFETY})
    assert tiny.to_diffusion_config(cache_dir=None).safety_checker == STAND_IN_SAFETY


@pytest.mark.parametrize(
    ("safety", "expected"),
    [
        ("sometimes", "models.0.safety.policy"),
        ({"policy": "flag", "checker": "builtin:nope"}, "builtin:stand-in-safety"),
        ({"policy": "flag", "level": 3}, "models.0.safety.level: unknown key"),
    ],
)
def test_a_bad_safety_entry_names_the_key_and_the_choices(safety, expected):
    with pytest.raises(ConfigError) as info:
        model(safety=safety)
    assert expected in str(info.value)
