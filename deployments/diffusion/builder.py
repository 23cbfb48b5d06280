"""Builds one diffusion deployment per catalog model."""

from typing import Any

from ray import serve
from ray.serve import Application

from deployments.diffusion.config import DiffusionConfig
from deployments.diffusion.server import DiffusionServer


def build_diffusion_deployment(
    config: DiffusionConfig, *, name: str, deployment_options: dict[str, Any]
) -> Application:
    """A bound `DiffusionServer` named `name`; batching knobs travel as its `user_config`."""
    options = dict(deployment_options)
    options.setdefault(
        "max_ongoing_requests",
        # At least two batches' worth, so one batch fills while the previous one computes.
        2 * config.batching.max_batch_size,
    )
    deployment = serve.deployment(DiffusionServer).options(
        name=name,
        user_config=config.batching.model_dump(),
        **options,
    )
    return deployment.bind(config)
