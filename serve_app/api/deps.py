"""Dependencies routes declare, as `Annotated` aliases: the request's user and context, and each
service or resource a route calls. Routes take these, never AppState itself, so a route's
signature lists everything it uses."""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader

from serve_app.api.state import AppState
from serve_app.config import AppConfig, PlanConfig
from serve_app.db.models import User
from serve_app.db.session import Database
from serve_app.errors import ProjectNotFound, Unauthorized
from serve_app.services.clock import Clock
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService
from serve_app.services.hero.service import HeroService
from serve_app.services.image_url import ImageUrlService
from serve_app.services.jobs import JobService
from serve_app.services.keys import parse_authorization
from serve_app.services.models import ModelClient
from serve_app.services.openai import OpenAIImagesService
from serve_app.services.prompts import PromptService
from serve_app.services.server_settings import ServerSettings
from serve_app.services.users import authenticate
from serve_app.services.webhooks import WebhookService
from serve_app.storage.base import ObjectStore

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bearer KEY` or `Token KEY`.",
)


# Every dependency here is `async def`, though none awaits: FastAPI runs a plain `def` dependency
# in its thread pool, a thread hop per dependency per request (most of a cache hit's CPU).
async def get_state(request: Request) -> AppState:
    return request.app.state.pixelray


async def get_context(request: Request) -> RequestContext:
    return request.state.context


# For dependencies (and the console's pages); API routes take the aliases below.
StateDep = Annotated[AppState, Depends(get_state)]
ContextDep = Annotated[RequestContext, Depends(get_context)]


async def key_user(state: AppState, authorization: str | None) -> User:
    """The user of the key in an `Authorization` header, allowed to use the API: 401 or 403 otherwise."""
    plaintext = parse_authorization(authorization)
    if plaintext is None:
        raise Unauthorized("send your API key as `Authorization: Bearer KEY`")
    user = await authenticate(db=state.db, plaintext=plaintext)
    state.accounting.plan_of(user)
    return user


async def get_current_user(
    state: StateDep, context: ContextDep, authorization: Annotated[str | None, Depends(_authorization)]
) -> User:
    """The key's user, allowed to use the API (403 otherwise); its rate-limit state goes on the response."""
    user = await key_user(state, authorization)
    context.rate_limit = await state.accounting.rate_limit_status(user)
    return user


CurrentUser = Annotated[User, Depends(get_current_user)]


async def get_current_plan(user: CurrentUser, state: StateDep) -> PlanConfig:
    return state.accounting.plan_of(user)


CurrentPlan = Annotated[PlanConfig, Depends(get_current_plan)]


async def get_host_project(request: Request, state: StateDep) -> str:
    """The project slug from a `{project}.BASE_DOMAIN` Host header."""
    host = request.url.hostname or ""
    domain = state.config.base_domain
    label = host.removesuffix(f".{domain}") if domain and host.endswith(f".{domain}") else ""
    if not label or "." in label:
        expected = f"PROJECT.{domain}" if domain else "/p/PROJECT/image (no base_domain is configured)"
        raise ProjectNotFound(host, message=f"host {host!r} names no project; use {expected}")
    return label


HostProject = Annotated[str, Depends(get_host_project)]
# Every id we issue is short and URL-safe: anything else names nothing, and must not reach the
# database (PostgreSQL refuses NUL in text).
IdPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="An id this API returned.")]


async def get_config(state: StateDep) -> AppConfig:
    return state.config


async def get_database(state: StateDep) -> Database:
    return state.db


async def get_store(state: StateDep) -> ObjectStore:
    return state.store


async def get_clock(state: StateDep) -> Clock:
    return state.clock


async def get_models(state: StateDep) -> ModelClient:
    return state.models


async def get_generation(state: StateDep) -> GenerationService:
    return state.generation


async def get_hero(state: StateDep) -> HeroService:
    return state.hero


async def get_jobs(state: StateDep) -> JobService:
    return state.jobs


async def get_prompts(state: StateDep) -> PromptService:
    return state.prompts


async def get_openai_images(state: StateDep) -> OpenAIImagesService:
    return state.openai_images


async def get_image_url(state: StateDep) -> ImageUrlService:
    return state.image_url


async def get_server_settings(state: StateDep) -> ServerSettings:
    return state.server_settings


async def get_webhooks(state: StateDep) -> WebhookService:
    return state.webhooks


ConfigDep = Annotated[AppConfig, Depends(get_config)]
DatabaseDep = Annotated[Database, Depends(get_database)]
StoreDep = Annotated[ObjectStore, Depends(get_store)]
ClockDep = Annotated[Clock, Depends(get_clock)]
ModelsDep = Annotated[ModelClient, Depends(get_models)]
GenerationDep = Annotated[GenerationService, Depends(get_generation)]
HeroDep = Annotated[HeroService, Depends(get_hero)]
JobsDep = Annotated[JobService, Depends(get_jobs)]
PromptsDep = Annotated[PromptService, Depends(get_prompts)]
OpenAIImagesDep = Annotated[OpenAIImagesService, Depends(get_openai_images)]
ImageUrlDep = Annotated[ImageUrlService, Depends(get_image_url)]
WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]
ServerSettingsDep = Annotated[ServerSettings, Depends(get_server_settings)]
