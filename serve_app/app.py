"""The serve config's import path: `serve_app.app:build_app`."""

from typing import Any

from ray.serve import Application

from deployments.diffusion.builder import build_diffusion_deployment
from serve_app.config import AppConfig, parse_app_config
from serve_app.ingress import build_ingress
from serve_app.settings import apply_environment


def build_app(args: dict[str, Any]) -> Application:
    """Validates `args` (raising a ConfigError that names each bad key), then binds one
    diffusion deployment per catalog model behind the ingress."""
    config: AppConfig = apply_environment(parse_app_config(args))
    model_apps = {
        model.slug: build_diffusion_deployment(
            model.to_diffusion_config(cache_dir=config.model_cache_dir),
            name=model.slug,
            deployment_options=model.serve_options(),
        )
        for model in config.models
    }
    return build_ingress(config, model_apps=model_apps)
