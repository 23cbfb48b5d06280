"""The `routes` and `base_domain` keys of the serve config."""

from pathlib import Path

import pytest

from serve_app.config import ConfigError, load_app_config, parse_app_config
from tests.factories import tiny_model_entry

ROOT = Path(__file__).resolve().parents[2]


def error_of(**overrides) -> str:
    with pytest.raises(ConfigError) as info:
        parse_app_config({"models": [tiny_model_entry()], **overrides})
    return str(info.value)


def test_local_yaml_defines_the_nine_routes_over_its_catalog():
    config = load_app_config(ROOT / "configs/local.yaml")
    expected = {f"{family}/{tier}" for family in ("quality", "text", "realistic") for tier in ("fast", "balanced", "high")}
    assert set(config.routes) == expected
    slugs = {m.slug for m in config.models}
    assert all(chain and set(chain) <= slugs for chain in config.routes.values())


def test_a_route_naming_a_model_outside_the_catalog_is_refused():
    message = error_of(routes={"quality/fast": ["tiny-sd", "sdxl"]})
    assert "route 'quality/fast' names sdxl, not in the catalog; known: tiny-sd" in message


@pytest.mark.parametrize(
    ("routes", "hint"),
    [
        ({"Quality Fast": ["tiny-sd"]}, "use `family/tier`"),
        ({"quality": ["tiny-sd"]}, "use `family/tier`"),
        ({"quality/fast": []}, "lists no models"),
        ({"quality/fast": ["tiny-sd", "tiny-sd"]}, "lists a model twice"),
    ],
)
def test_route_names_and_chains_must_be_sane(routes, hint):
    assert hint in error_of(routes=routes)


def test_base_domain_must_be_a_bare_host_name():
    assert parse_app_config({"models": [tiny_model_entry()], "base_domain": "Img.Example.com."}).base_domain == "img.example.com"
    assert "use a bare host name" in error_of(base_domain="https://img.example.com")
