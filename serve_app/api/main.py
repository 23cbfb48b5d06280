"""The FastAPI application: routers, middleware and error handlers, around one AppState."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from serve_app.api.errors import register_error_handlers
from serve_app.api.middleware import RequestContextMiddleware
from serve_app.api.routes import (
    account, files, generate, health, image, images, model_routes, models, openai, prompts, urls,
)
from serve_app.api.routes import upscale
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
    cors = state.config.cors
    # Outermost, so preflights are answered before anything else and every response,
    # errors included, carries the CORS headers. Keys travel in `Authorization`, not cookies,
    # so any origin may call by default without credentialed CORS.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors.allowed_origins if cors.strict_origins else ["*"],
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
        expose_headers=["X-Request-Id", "Retry-After", "RateLimit", "RateLimit-Policy"],
        max_age=600,
    )
    register_error_handlers(app)
    for module in (generate, urls, account, images, models, health, files, prompts, openai, model_routes, image):
        app.include_router(module.router)
    app.include_router(upscale.router)
    return app
