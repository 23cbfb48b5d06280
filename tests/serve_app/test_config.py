"""The serve config: pydantic validation of `args`, and the shipped configs."""

from pathlib import Path

import pytest
import yaml

from deployments.diffusion.config import DiffusionConfig
from serve_app.config import ConfigError, load_app_config, parse_app_config
from serve_app.environment import Settings, apply_environment
from tests.factories import tiny_model_entry

ROOT = Path(__file__).resolve().parents[2]


def args(**overrides) -> dict:
    return {"models": [tiny_model_entry()], **overrides}


def error_of(bad_args: dict) -> str:
    with pytest.raises(ConfigError) as info:
        parse_app_config(bad_args)
    return str(info.value)


def test_local_yaml_is_a_serve_config_that_serve_accepts():
    from ray.serve.schema import ServeDeploySchema

    document = yaml.safe_load((ROOT / "configs/local.yaml").read_text())
    schema = (
        ServeDeploySchema.model_validate(document)
        if hasattr(ServeDeploySchema, "model_validate")
        else ServeDeploySchema.parse_obj(document)
    )
    assert schema.applications[0].import_path == "serve_app.app:build_app"
    config = load_app_config(ROOT / "configs/local.yaml")
    assert config.default_model_slug == "tiny-sd"


def test_unknown_top_level_key_is_named_with_the_allowed_keys():
    message = error_of(args(databse_url="sqlite:///x.db"))
    assert "databse_url: unknown key" in message
    assert "database_url" in message.split("databse_url: unknown key")[1]


def test_unknown_nested_key_names_its_full_path():
    entry = tiny_model_entry(deployment={"num_replica": 2})
    message = error_of({"models": [entry]})
    assert "models.0.deployment.num_replica: unknown key" in message
    assert "num_replicas" in message


def test_unknown_builtin_source_lists_the_builtins():
    message = error_of({"models": [tiny_model_entry(source="builtin:huge-sd")]})
    assert "models.0.source" in message and "builtin:tiny-sd" in message


def test_source_that_is_neither_repo_id_nor_directory_is_refused():
    message = error_of({"models": [tiny_model_entry(source="/no/such/dir")]})
    assert "models.0.source" in message and "Hugging Face repo id" in message


def test_hugging_face_repo_ids_are_accepted_without_downloading():
    config = parse_app_config({"models": [tiny_model_entry(source="stabilityai/sd-turbo")]})
    assert config.models[0].source == "stabilityai/sd-turbo"


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"min_size": 100}, "min_size must be a multiple of 8"),
        ({"default_width": 1024}, "default_width must lie between"),
        ({"slug": "Tiny SD"}, "lowercase letters"),
        ({"default_steps": 0}, "greater than or equal to 1"),
        ({"device": "tpu"}, "models.0.device"),
    ],
)
def test_bad_model_values_say_how_to_fix_them(overrides, expected):
    assert expected in error_of({"models": [tiny_model_entry(**overrides)]})


def test_default_model_must_be_in_the_catalog():
    assert "default_model 'nope' is not in the catalog; known: tiny-sd" in error_of(args(default_model="nope"))


def test_duplicate_slugs_are_refused():
    assert "repeated: tiny-sd" in error_of({"models": [tiny_model_entry(), tiny_model_entry()]})


def test_database_url_must_be_sqlite_or_postgresql():
    assert "database_url: use sqlite:///PATH" in error_of(args(database_url="mysql://x/y"))


def test_replicas_and_autoscaling_are_exclusive():
    entry = tiny_model_entry(
        deployment={"num_replicas": 1, "autoscaling_config": {"min_replicas": 1, "max_replicas": 2}}
    )
    assert "either num_replicas or autoscaling_config" in error_of({"models": [entry]})


def test_environment_overrides_and_relative_paths_become_absolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = parse_app_config(args(database_url="sqlite:///rel/app.db"))
    resolved = apply_environment(config, Settings(public_base_url="https://img.example.com/"))
    assert resolved.database_url == f"sqlite:///{tmp_path}/rel/app.db"
    assert resolved.storage.local_dir == f"{tmp_path}/.pixelray/files"
    assert resolved.public_base_url == "https://img.example.com"


def test_deployment_options_become_serve_options():
    entry = tiny_model_entry(
        deployment={
            "autoscaling_config": {"min_replicas": 1, "max_replicas": 3, "target_ongoing_requests": 4},
            "max_ongoing_requests": 24,
            "ray_actor_options": {"num_gpus": 1},
        }
    )
    options = parse_app_config({"models": [entry]}).models[0].deployment.to_serve_options()
    assert options["autoscaling_config"]["max_replicas"] == 3
    assert options["max_ongoing_requests"] == 24
    assert options["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 1.0}
    assert "num_replicas" not in options


def test_unset_model_limits_follow_the_batch_size():
    entry = tiny_model_entry(batching={"max_batch_size": 6}, deployment={"autoscaling_config": {"max_replicas": 3}})
    options = parse_app_config({"models": [entry]}).models[0].serve_options()
    assert (options["max_ongoing_requests"], options["max_queued_requests"]) == (12, 48)
    assert options["autoscaling_config"]["target_ongoing_requests"] == 6


def test_a_models_replicas_get_its_deployment_settings_and_the_app_cache_but_not_its_catalog_entry():
    model = parse_app_config(args()).models[0]
    replica = model.to_diffusion_config(cache_dir="/models")
    assert type(replica) is DiffusionConfig
    assert (replica.source, replica.device, replica.num_threads, replica.cache_dir) == (
        "builtin:tiny-sd",
        "cpu",
        1,
        "/models",
    )
    assert replica.serve_options() == model.serve_options()


def test_the_model_cache_is_set_once_for_the_app_not_per_model():
    message = error_of({"models": [tiny_model_entry(cache_dir="/tmp/x")]})
    assert "models.0.cache_dir: unknown key" in message


def test_a_model_that_could_never_fill_a_batch_is_refused():
    entry = tiny_model_entry(batching={"max_batch_size": 16}, deployment={"max_ongoing_requests": 8})
    with pytest.raises(ConfigError, match=r"max_ongoing_requests \(8\) is below batching.max_batch_size \(16\)"):
        parse_app_config({"models": [entry]})


def test_an_ingress_smaller_than_the_models_behind_it_is_refused():
    entry = tiny_model_entry(
        deployment={"autoscaling_config": {"max_replicas": 4}, "max_ongoing_requests": 32, "max_queued_requests": 64}
    )
    with pytest.raises(ConfigError, match=r"at least 192 per ingress replica"):
        parse_app_config({"models": [entry], "ingress": {"max_ongoing_requests": 100}})


def test_an_unset_ingress_limit_covers_every_model():
    models = [
        tiny_model_entry(deployment={"autoscaling_config": {"max_replicas": 8}, "max_ongoing_requests": 32}),
        tiny_model_entry("other", deployment={"num_replicas": 1}),
    ]
    config = parse_app_config({"models": models, "ingress": {"num_replicas": 2}})
    # 8 × 32 + 128 queued for the first model, 16 + 64 for the second, split over 2 ingress replicas.
    assert config.ingress_serve_options()["max_ongoing_requests"] == 256
    config = parse_app_config({"models": models[:1], "ingress": {"num_replicas": 1}})
    assert config.ingress_serve_options()["max_ongoing_requests"] == 8 * 32 + 128


def test_the_enhancer_defaults_to_rules_and_local_yaml_keeps_it():
    assert parse_app_config(args()).enhancer.backend == "rules"
    assert load_app_config(ROOT / "configs/local.yaml").enhancer.backend == "rules"


def test_a_diffusion_model_cannot_be_the_enhancer_and_a_language_model_cannot_draw():
    enhancer_error = error_of(args(enhancer={"backend": "llm", "source": "builtin:tiny-sd"}))
    model_error = error_of(args(models=[tiny_model_entry(source="builtin:tiny-lm")]))

    assert "enhancer.source: unknown built-in model 'builtin:tiny-sd'" in enhancer_error
    assert "builtin:tiny-lm" in enhancer_error.split("built-in models here are:")[1]
    assert "models.0.source: unknown built-in model 'builtin:tiny-lm'" in model_error


def test_enhancer_limits_name_the_key():
    assert "enhancer.max_new_tokens" in error_of(args(enhancer={"max_new_tokens": 0}))
    assert "enhancer.backend" in error_of(args(enhancer={"backend": "gpt"}))


def test_an_enhancer_that_could_never_fill_a_batch_is_refused():
    error = error_of(
        args(
            enhancer={"backend": "llm", "batching": {"max_batch_size": 32}, "deployment": {"max_ongoing_requests": 16}}
        )
    )
    assert "enhancer: deployment.max_ongoing_requests (16) is below batching.max_batch_size (32)" in error
    assert "set it to at least 64" in error


@pytest.mark.parametrize(
    ("bad", "key"),
    [
        ({"models": [tiny_model_entry("Bad_Slug")]}, "models.0.slug"),
        ({"models": [tiny_model_entry()], "plans": [{"slug": "X y", "name": "x"}]}, "plans.0.slug"),
        (
            {"models": [tiny_model_entry(adapters=[{"slug": "NO", "name": "n", "source": "builtin:tiny-lora"}])]},
            "models.0.adapters.0.slug",
        ),
    ],
)
def test_every_slug_follows_one_rule_and_says_how_to_fix_it(bad, key):
    assert f"{key}: use lowercase letters, digits and '-', starting with a letter or digit" in error_of(bad)
