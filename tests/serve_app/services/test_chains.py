"""Which models a GET-image request tries, in order (the fallback itself runs in
tests/integration/test_image_url_http.py against a model that really fails)."""

import pytest

from serve_app.errors import InvalidRequest, UnknownModel, UnknownRoute
from serve_app.services.models import ModelClient
from serve_app.services.chains import ModelRouter
from tests.factories import make_config, tiny_model_entry


@pytest.fixture
def router() -> ModelRouter:
    config = make_config(
        models=[tiny_model_entry("tiny-sd"), tiny_model_entry("other-sd")],
        default_model="other-sd",
        routes={"quality/fast": ["tiny-sd", "other-sd"]},
    )
    return ModelRouter(config=config, models=ModelClient({}, timeout_s=1))


def test_a_route_gives_its_models_in_order(router):
    assert [m.slug for m in router.chain(route="quality/fast")] == ["tiny-sd", "other-sd"]


def test_a_model_or_the_default_model_is_a_chain_of_one(router):
    assert [m.slug for m in router.chain(model="tiny-sd")] == ["tiny-sd"]
    assert [m.slug for m in router.chain()] == ["other-sd"]


def test_unknown_names_and_both_at_once_are_refused(router):
    with pytest.raises(UnknownRoute, match="known routes: quality/fast"):
        router.chain(route="quality/ultra")
    with pytest.raises(UnknownModel, match="known models: tiny-sd, other-sd"):
        router.chain(model="sdxl")
    with pytest.raises(InvalidRequest, match="either `route` or `model`"):
        router.chain(route="quality/fast", model="tiny-sd")
