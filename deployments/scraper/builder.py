"""Builds the scraper deployment."""

from typing import Any

from ray import serve
from ray.serve import Application

from deployments.scraper.config import ScraperConfig
from deployments.scraper.server import ScraperServer


def build_scraper_deployment(config: ScraperConfig, *, deployment_options: dict[str, Any]) -> Application:
    return serve.deployment(ScraperServer).options(name="scraper", **deployment_options).bind(config)  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
