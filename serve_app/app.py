"""The serve config's import path: `serve_app.app:build_app`."""

from typing import Any

from ray.serve import Application

from deployments.diffusion.builder import build_diffusion_deployment
from deployments.prompt_enhancer.builder import build_prompt_enhancer_deployment
from deployments.scraper.builder import build_scraper_deployment
from serve_app.config import AppConfig, parse_app_config
from serve_app.environment import apply_environment
from serve_app.ingress import build_ingress
from serve_app.jobs.worker import build_job_worker


def build_app(args: dict[str, Any]) -> Application:
    """Validates `args` (raising a ConfigError that names each bad key), then binds one
    diffusion deployment per catalog model, the scraper, the job worker and the prompt enhancer
    (when it runs an LLM) behind the ingress."""
    config: AppConfig = apply_environment(parse_app_config(args))
    model_apps = {
        model.slug: build_diffusion_deployment(
            model.to_diffusion_config(cache_dir=config.model_cache_dir), name=model.slug
        )
        for model in config.models
    }
    enhancer_app = None
    if config.enhancer.backend == "llm":
        enhancer_app = build_prompt_enhancer_deployment(
            config.enhancer.to_enhancer_config(cache_dir=config.model_cache_dir)
        )
    scraper = build_scraper_deployment(config.scraper)
    worker = build_job_worker(config, model_apps=model_apps, scraper=scraper, enhancer_app=enhancer_app)
    return build_ingress(config, model_apps=model_apps, scraper=scraper, worker=worker, enhancer_app=enhancer_app)
