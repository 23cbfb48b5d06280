"""configs/production.yaml: a valid Serve config, every key known, and `args` pixelray accepts —
checked without Ray running and without loading a model."""

import subprocess
import sys
import typing
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from serve_app.config import APP_IMPORT_PATH, AppConfig, parse_app_config

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "configs" / "production.yaml"


def nested_models(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's annotation can hold (through Optional, list, dict, Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found = []
    for arg in typing.get_args(annotation):
        found.extend(nested_models(arg))
    return found


def is_mapping(annotation: Any) -> bool:
    """True for dict[...] annotations, also inside Optional."""
    return typing.get_origin(annotation) is dict or any(is_mapping(a) for a in typing.get_args(annotation))


def unknown_keys(model: type[BaseModel], data: Any, path: str = "") -> list[str]:
    """Paths of keys in `data` that `model` (followed recursively) has no field for. Serve's
    schemas ignore such keys, so a typo there would silently do nothing."""
    if not isinstance(data, dict):
        return []
    fields = {(field.alias or name): field for name, field in model.model_fields.items()}
    problems = []
    for key, value in data.items():
        where = f"{path}.{key}" if path else str(key)
        field = fields.get(key)
        if field is None:
            problems.append(where)
            continue
        nested = nested_models(field.annotation)
        if not nested:
            continue
        if isinstance(value, list):
            members = [(f"{where}.{index}", item) for index, item in enumerate(value)]
        elif isinstance(value, dict) and is_mapping(field.annotation):
            members = [(f"{where}.{name}", item) for name, item in value.items()]
        else:
            members = [(where, value)]
        for member_path, member in members:
            problems.extend(unknown_keys(nested[0], member, member_path))
    return problems


@pytest.fixture(scope="module")
def document() -> dict:
    return yaml.safe_load(PRODUCTION.read_text())


@pytest.fixture(scope="module")
def app_args(document: dict) -> dict:
    (application,) = [a for a in document["applications"] if a["import_path"] == APP_IMPORT_PATH]
    return application["args"]


def test_production_config_parses_with_serves_deploy_schema(document):
    from ray.serve.schema import ServeDeploySchema

    schema = ServeDeploySchema.model_validate(document)
    assert [a.import_path for a in schema.applications] == [APP_IMPORT_PATH]
    assert schema.logging_config.encoding == "JSON"


def test_every_serve_key_in_production_config_is_one_serve_knows(document):
    from ray.serve.schema import ServeDeploySchema

    assert unknown_keys(ServeDeploySchema, document) == []


def test_key_checker_finds_a_misspelled_serve_key(document):
    from ray.serve.schema import ServeDeploySchema

    typo = {**document, "http_options": {**document["http_options"], "prot": 8000}}
    typo["applications"] = [{**document["applications"][0], "rout_prefix": "/"}]
    assert unknown_keys(ServeDeploySchema, typo) == ["http_options.prot", "applications.0.rout_prefix"]


def test_every_pixelray_key_in_production_config_is_one_pixelray_knows(app_args):
    assert unknown_keys(AppConfig, app_args) == []
    parse_app_config(app_args)


def test_production_models_are_real_hub_models_on_one_gpu_each_in_half_precision(app_args):
    config = parse_app_config(app_args)
    sources = {m.source for m in config.models}
    assert {"stabilityai/sd-turbo", "stabilityai/sdxl-turbo", "black-forest-labs/FLUX.1-schnell"} <= sources
    for model in config.models:
        assert model.device == "cuda"
        assert model.dtype in ("float16", "bfloat16"), model.slug
        assert model.deployment.ray_actor_options.num_gpus == 1, model.slug
        scaling = model.deployment.autoscaling_config
        assert scaling is not None and scaling.max_replicas > scaling.min_replicas >= 1, model.slug
        assert model.credit_cost(width=model.default_width, height=model.default_height) >= 1


def test_production_chains_name_only_catalog_models(app_args):
    config = parse_app_config(app_args)
    slugs = {m.slug for m in config.models}
    assert {"quality/fast", "quality/balanced", "quality/high"} <= set(config.chains)
    assert any(name.startswith("text/") for name in config.chains)
    assert any(name.startswith("realistic/") for name in config.chains)
    for name, chain in config.chains.items():
        assert chain and set(chain) <= slugs, name


def test_production_database_base_url_and_minio_keys_come_from_the_environment(app_args):
    from serve_app.environment import Settings, apply_environment

    url = "postgresql://pixelray:s3cret@db.internal:5432/pixelray"
    settings = Settings(
        database_url=url, public_base_url="https://img.example.org", s3_access_key="ak", s3_secret_key="sk"
    )
    config = apply_environment(parse_app_config(app_args), settings)
    assert config.database_url == url
    assert config.public_base_url == "https://img.example.org"
    assert config.storage.backend == "s3" and (config.storage.s3.access_key, config.storage.s3.secret_key) == (
        "ak",
        "sk",
    )
    assert config.migrate_on_start is False


def test_validating_production_config_imports_no_torch_and_starts_no_ray():
    code = (
        "import sys; from serve_app.config import load_app_config; "
        f"load_app_config({str(PRODUCTION)!r}); "
        "import ray; assert 'torch' not in sys.modules and 'diffusers' not in sys.modules; "
        "assert not ray.is_initialized()"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr


def test_every_production_model_judges_its_images_with_compvis_checker(app_args):
    config = parse_app_config(app_args)
    policies = {model.slug: model.safety.policy for model in config.models}
    assert set(policies.values()) <= {"flag", "block"} and "block" in policies.values(), policies
    assert {model.to_diffusion_config(cache_dir=None).safety_checker for model in config.models} == {
        "CompVis/stable-diffusion-safety-checker"
    }
