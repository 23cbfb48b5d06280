"""Builds the prompt-enhancer deployment."""

from ray import serve
from ray.serve import Application

from deployments.prompt_enhancer.config import PromptEnhancerConfig
from deployments.prompt_enhancer.server import PromptEnhancerServer


def build_prompt_enhancer_deployment(config: PromptEnhancerConfig, *, name: str = "prompt-enhancer") -> Application:
    """A bound `PromptEnhancerServer` named `name`, with the Serve options `config` carries;
    batching knobs travel as its `user_config`, as for a model."""
    deployment = serve.deployment(PromptEnhancerServer).options(  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        name=name, user_config=config.batching.model_dump(), **config.serve_options()
    )
    return deployment.bind(config)
