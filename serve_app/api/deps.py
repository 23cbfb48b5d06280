"""Dependencies routes declare, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader

from serve_app.api.state import AppState
from serve_app.db.models import User
from serve_app.errors import ProjectNotFound, Unauthorized
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService
from serve_app.services.hero.service import HeroService
from serve_app.services.image_url import ImageUrlService
from serve_app.services.keys import parse_authorization
from serve_app.services.openai_images import OpenAIImagesService
from serve_app.services.prompts import PromptService
from serve_app.services.users import authenticate
from serve_app.services.webhooks import WebhookService

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bearer KEY` or `Token KEY`.",
)


def get_state(request: Request) -> AppState:
    return request.app.state.pixelray


def get_context(request: Request) -> RequestContext:
    return request.state.context


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


def get_generation(state: StateDep) -> GenerationService:
    return state.generation


def get_hero(state: StateDep) -> HeroService:
    return state.hero


def get_prompts(state: StateDep) -> PromptService:
    return state.prompts


def get_openai_images(state: StateDep) -> OpenAIImagesService:
    return state.openai_images


CurrentUser = Annotated[User, Depends(get_current_user)]
GenerationDep = Annotated[GenerationService, Depends(get_generation)]
HeroDep = Annotated[HeroService, Depends(get_hero)]
PromptsDep = Annotated[PromptService, Depends(get_prompts)]
OpenAIImagesDep = Annotated[OpenAIImagesService, Depends(get_openai_images)]


def get_images(state: StateDep) -> ImageUrlService:
    return state.images


def get_host_project(request: Request, state: StateDep) -> str:
    """The project slug from a `{project}.BASE_DOMAIN` Host header."""
    host = request.url.hostname or ""
    domain = state.config.base_domain
    label = host.removesuffix(f".{domain}") if domain and host.endswith(f".{domain}") else ""
    if not label or "." in label:
        expected = f"PROJECT.{domain}" if domain else "/p/PROJECT/image (no base_domain is configured)"
        raise ProjectNotFound(host, message=f"host {host!r} names no project; use {expected}")
    return label


ImagesDep = Annotated[ImageUrlService, Depends(get_images)]
HostProject = Annotated[str, Depends(get_host_project)]


# Every id we issue is short and URL-safe: anything else names nothing, and must not reach the
# database (PostgreSQL refuses NUL in text).
IdPath = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$", description="An id this API returned.")]
def get_webhooks(state: StateDep) -> WebhookService:
    return state.webhooks


WebhooksDep = Annotated[WebhookService, Depends(get_webhooks)]
