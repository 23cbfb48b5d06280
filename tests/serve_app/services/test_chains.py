"""Which models a GET-image request tries, in order (the fallback itself runs in
tests/integration/test_image_url_http.py against a model that really fails)."""

import pytest

from serve_app.errors import InvalidRequest, UnknownChain, UnknownModel
from serve_app.services.chains import ModelChains
from serve_app.services.models import ModelClient
from tests.factories import make_config, tiny_model_entry


@pytest.fixture
def chains() -> ModelChains:
    config = make_config(
        models=[tiny_model_entry("tiny-sd"), tiny_model_entry("other-sd")],
        default_model="other-sd",
        chains={"quality/fast": ["tiny-sd", "other-sd"]},
    )
    return ModelChains(config=config, models=ModelClient({}, timeout_s=1))


def test_a_chain_gives_its_models_in_order(chains):
    assert [m.slug for m in chains.models_for(chain="quality/fast")] == ["tiny-sd", "other-sd"]


def test_a_model_or_the_default_model_is_a_chain_of_one(chains):
    assert [m.slug for m in chains.models_for(model="tiny-sd")] == ["tiny-sd"]
    assert [m.slug for m in chains.models_for()] == ["other-sd"]


def test_unknown_names_and_both_at_once_are_refused_in_the_requests_own_words(chains):
    with pytest.raises(UnknownChain, match="known routes: quality/fast"):
        chains.models_for(chain="quality/ultra")
    with pytest.raises(UnknownModel, match="known models: tiny-sd, other-sd"):
        chains.models_for(model="sdxl")
    with pytest.raises(InvalidRequest, match="either `route` or `model`"):
        chains.models_for(chain="quality/fast", model="tiny-sd")
