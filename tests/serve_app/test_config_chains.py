"""The `chains` (formerly `routes`) and `base_domain` keys of the serve config."""

import logging
from pathlib import Path

import pytest

from serve_app.config import ConfigError, load_app_config, parse_app_config
from tests.factories import tiny_model_entry

ROOT = Path(__file__).resolve().parents[2]


def error_of(**overrides) -> str:
    with pytest.raises(ConfigError) as info:
        parse_app_config({"models": [tiny_model_entry()], **overrides})
    return str(info.value)


def test_local_yaml_defines_the_nine_chains_over_its_catalog():
    config = load_app_config(ROOT / "configs/local.yaml")
    expected = {
        f"{family}/{tier}" for family in ("quality", "text", "realistic") for tier in ("fast", "balanced", "high")
    }
    assert set(config.chains) == expected
    slugs = {m.slug for m in config.models}
    assert all(chain and set(chain) <= slugs for chain in config.chains.values())


def test_a_chain_naming_a_model_outside_the_catalog_is_refused():
    message = error_of(chains={"quality/fast": ["tiny-sd", "sdxl"]})
    assert "chain 'quality/fast' names sdxl, not in the catalog; known: tiny-sd" in message


@pytest.mark.parametrize(
    ("chains", "hint"),
    [
        ({"Quality Fast": ["tiny-sd"]}, "use `family/tier`"),
        ({"quality": ["tiny-sd"]}, "use `family/tier`"),
        ({"quality/fast": []}, "lists no models"),
        ({"quality/fast": ["tiny-sd", "tiny-sd"]}, "lists a model twice"),
    ],
)
def test_chain_names_and_their_models_must_be_sane(chains, hint):
    assert hint in error_of(chains=chains)


def test_the_old_routes_key_still_works_and_the_log_says_to_rename_it(caplog):
    with caplog.at_level(logging.WARNING, logger="serve_app.config"):
        config = parse_app_config({"models": [tiny_model_entry()], "routes": {"quality/fast": ["tiny-sd"]}})
    assert config.chains == {"quality/fast": ["tiny-sd"]}
    assert "config key `routes` is deprecated: rename it to `chains`" in caplog.text


def test_the_old_routes_key_is_checked_like_chains():
    assert "chain 'quality/fast' names sdxl, not in the catalog" in error_of(routes={"quality/fast": ["sdxl"]})


def test_routes_and_chains_together_are_refused_rather_than_one_dropped():
    message = error_of(routes={"quality/fast": ["tiny-sd"]}, chains={"quality/high": ["tiny-sd"]})
    assert "keep only `chains`" in message


def test_a_current_config_logs_no_deprecation(caplog):
    with caplog.at_level(logging.WARNING, logger="serve_app.config"):
        parse_app_config({"models": [tiny_model_entry()], "chains": {"quality/fast": ["tiny-sd"]}})
    assert "deprecated" not in caplog.text


def test_base_domain_must_be_a_bare_host_name():
    assert (
        parse_app_config({"models": [tiny_model_entry()], "base_domain": "Img.Example.com."}).base_domain
        == "img.example.com"
    )
    assert "use a bare host name" in error_of(base_domain="https://img.example.com")
