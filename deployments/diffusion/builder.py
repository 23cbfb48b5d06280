"""Builds one diffusion deployment per catalog model."""

from typing import Any

from ray import serve
from ray.serve import Application

from deployments.diffusion.config import DiffusionConfig, with_batching_defaults
from deployments.diffusion.server import DiffusionServer


def build_diffusion_deployment(
    config: DiffusionConfig, *, name: str, deployment_options: dict[str, Any]
) -> Application:
    """A bound `DiffusionServer` named `name`; batching knobs travel as its `user_config`, and
    unset replica limits follow from them (`with_batching_defaults`)."""
    options = with_batching_defaults(deployment_options, config.batching)
    deployment = serve.deployment(DiffusionServer).options(  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        name=name,
        user_config=config.batching.model_dump(),
        **options,
    )
    return deployment.bind(config)
