"""Builds the prompt-enhancer deployment."""

from typing import Any

from ray import serve
from ray.serve import Application

from deployments.diffusion.config import with_batching_defaults
from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.prompt_enhancer.server import PromptEnhancerServer


def build_prompt_enhancer_deployment(
    config: PromptEnhancerConfig, *, name: str = "prompt-enhancer", deployment_options: dict[str, Any]
) -> Application:
    """A bound `PromptEnhancerServer` named `name`; batching knobs travel as its `user_config`,
    and unset replica limits follow from them (`with_batching_defaults`), as for a model."""
    options = with_batching_defaults(deployment_options, config.batching)
    deployment = serve.deployment(PromptEnhancerServer).options(  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        name=name, user_config=config.batching.model_dump(), **options
    )
    return deployment.bind(config)
