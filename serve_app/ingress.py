"""The HTTP ingress deployment: a FastAPI app built on the replica around the deployment handles."""

from typing import Any

from fastapi import FastAPI
from ray import serve
from ray.serve import Application

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import AppConfig


@serve.ingress()
class IngressServer:
    """Holds one handle per catalog model, the scraper's, the job worker's and the prompt
    enhancer's (when it runs an LLM); requests are served by the app from `create_app`."""

    def __init__(
        self, config: AppConfig, model_handles: dict[str, Any], scraper: Any, worker: Any, enhancer_handle: Any = None
    ):
        self._state = AppState.build(
            config, model_handles=model_handles, scraper=scraper, worker=worker, enhancer_handle=enhancer_handle
        )

    def __serve_build_asgi_app__(self) -> FastAPI:
        return create_app(self._state)


def build_ingress(
    config: AppConfig,
    *,
    model_apps: dict[str, Application],
    scraper: Application,
    worker: Application,
    enhancer_app: Application | None = None,
) -> Application:
    """The ingress bound to the other deployments; Serve turns the bound apps into handles."""
    deployment = serve.deployment(IngressServer).options(  # type: ignore[attr-defined]  # ray annotates deployment(cls) as the decorator it returns when called bare
        name="ingress", **config.ingress_serve_options()
    )
    return deployment.bind(config, model_apps, scraper, worker, enhancer_app)
