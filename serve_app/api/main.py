"""The FastAPI application: routers, middleware and error handlers, around one AppState."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serve_app.api.errors import register_error_handlers
from serve_app.api.middleware import RequestContextMiddleware
from serve_app.api.routes import account, files, generate, health, image, model_routes, models, openai, prompts, urls
from serve_app.api.state import AppState
from serve_app.schemas.common import ErrorEnvelope

_ERROR_RESPONSES = {
    status: {"model": ErrorEnvelope} for status in (400, 401, 402, 403, 404, 429, 500, 502, 503)
}


def create_app(state: AppState) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await state.startup()
        yield
        await state.shutdown()

    app = FastAPI(
        title="pixelray",
        description="Self-hostable image generation on Ray Serve.",
        version="0.1.0",
        lifespan=lifespan,
        responses=_ERROR_RESPONSES,
    )
    app.state.pixelray = state
    app.add_middleware(RequestContextMiddleware)
    register_error_handlers(app)
    for module in (generate, urls, account, models, health, files, prompts, openai, model_routes, image):
        app.include_router(module.router)
    return app
