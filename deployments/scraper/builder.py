"""Builds the scraper deployment."""

from ray import serve
from ray.serve import Application

from deployments.scraper.config import ScraperConfig
from deployments.scraper.server import ScraperServer


def build_scraper_deployment(config: ScraperConfig) -> Application:
    """A bound `ScraperServer` named `scraper`, with the Serve options `config` carries."""
    return serve.deployment(ScraperServer).options(name="scraper", **config.serve_options()).bind(config)  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
