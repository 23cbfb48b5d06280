"""The FastAPI application: routers, middleware and error handlers, around one AppState."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.datastructures import Headers
from starlette.requests import cookie_parser

from serve_app.api.body_limit import BodyLimitMiddleware
from serve_app.api.deps import key_user
from serve_app.api.errors import register_error_handlers
from serve_app.api.middleware import RequestContextMiddleware
from serve_app.api.openapi import install_openapi
from serve_app.api.routes import (
    account,
    files,
    generate,
    health,
    hero,
    image_url,
    images,
    jobs,
    model_routes,
    models,
    openai,
    prompts,
    upscale,
    webhooks,
)
from serve_app.api.state import AppState
from serve_app.errors import Unauthorized
from serve_app.schemas.common import ErrorEnvelope
from serve_app.services.sessions import active_session
from serve_app.web import mount_console
from serve_app.web.deps import SESSION_COOKIE

_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorEnvelope} for status in (400, 401, 402, 403, 404, 413, 429, 500, 502, 503)
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
        # Served by the console from the application's own files, never from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.pixelray = state

    async def check_credentials(headers: Headers) -> None:
        # The API signs in with a key; the console's playground, which takes an uploaded image
        # too, with its session cookie.
        session_token = cookie_parser(headers.get("cookie", "")).get(SESSION_COOKIE)
        if headers.get("authorization") is None and session_token:
            if await active_session(db=state.db, clock=state.clock, token=session_token) is None:
                raise Unauthorized("log in to the console again")
            return
        await key_user(state, headers.get("authorization"))

    # Inside the request context (its 413s and 401s carry the request id), before everything else.
    app.add_middleware(BodyLimitMiddleware, limits=state.config.body_limits, authenticate=check_credentials)
    app.add_middleware(RequestContextMiddleware)
    cors = state.config.cors
    # Outermost, so preflights are answered before anything else and every response,
    # errors included, carries the CORS headers. Keys travel in `Authorization`, not cookies,
    # so any origin may call by default without credentialed CORS.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors.allowed_origins if cors.strict_origins else ["*"],
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-Request-Id", "Idempotency-Key"],
        expose_headers=[
            "X-Request-Id",
            "Retry-After",
            "RateLimit",
            "RateLimit-Policy",
            "Idempotent-Replayed",
            "Server-Timing",
        ],
        max_age=600,
    )
    register_error_handlers(app)
    install_openapi(app)
    # Every route with its full path, for the `Allow` header of a 405 (api/errors.py).
    app.state.api_routes = []
    for module in (
        generate,
        hero,
        jobs,
        account,
        images,
        models,
        health,
        files,
        prompts,
        openai,
        model_routes,
        image_url,
        webhooks,
        upscale,
    ):
        app.include_router(module.router)
        app.state.api_routes.extend(module.router.routes)
    mount_console(app)
    return app
