"""Builds one diffusion deployment per catalog model."""

from ray import serve
from ray.serve import Application

from deployments.diffusion.config import DiffusionConfig
from deployments.diffusion.server import DiffusionServer


def build_diffusion_deployment(config: DiffusionConfig, *, name: str) -> Application:
    """A bound `DiffusionServer` named `name`, with the Serve options `config` carries; batching
    knobs travel as its `user_config` (applied in `reconfigure`)."""
    deployment = serve.deployment(DiffusionServer).options(  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        name=name, user_config=config.batching.model_dump(), **config.serve_options()
    )
    return deployment.bind(config)
