from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse, Response
from pydantic import Discriminator, Tag

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep, HeroDep
from serve_app.api.idempotency import IdempotentDep
from serve_app.schemas.common import Envelope, ErrorEnvelope
from serve_app.schemas.generate import BatchData, BatchRequest, GenerateData, GenerateRequest
from serve_app.schemas.hero import HeroAccepted, HeroRequest
from serve_app.services.context import RequestContext
from serve_app.services.variants import LOGO, PRODUCT

router = APIRouter(prefix="/api/v1", tags=["generate"])
GenerateResponse = Envelope[GenerateData] | Envelope[BatchData]


def _body_kind(body: Any) -> str:
    if isinstance(body, dict) and "url" in body:
        return "HeroRequest"
    return "BatchRequest" if isinstance(body, dict) and "items" in body else "GenerateRequest"


# One path, three contracts told apart by their keys (`url`: hero image, `items`: batch, else one
# prompt). Tags are class names so that validation errors can be traced back to their model
# (see api/errors.py).
GenerateBody = Annotated[
    Annotated[GenerateRequest, Tag("GenerateRequest")]
    | Annotated[BatchRequest, Tag("BatchRequest")]
    | Annotated[HeroRequest, Tag("HeroRequest")],
    Discriminator(_body_kind),
    Body(),
]
# The product and logo variants take the prompt forms only.
PromptBody = Annotated[
    Annotated[GenerateRequest, Tag("GenerateRequest")] | Annotated[BatchRequest, Tag("BatchRequest")],
    Discriminator(_body_kind),
    Body(),
]


_IDEMPOTENCY_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorEnvelope, "description": "The first request with this Idempotency-Key is still running."},
    422: {"model": ErrorEnvelope, "description": "This Idempotency-Key was used with another request."},
}


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={
        202: {"model": HeroAccepted, "description": "A `url` body: the hero image job was queued."},
        **_IDEMPOTENCY_RESPONSES,
    },
)
@router.post("/generate/", response_model=GenerateResponse, include_in_schema=False)
async def generate(
    body: GenerateBody,
    user: CurrentUser,
    generation: GenerationDep,
    hero: HeroDep,
    context: ContextDep,
    once: IdempotentDep,
) -> Response:
    """Generate images from a prompt or a batch of prompts (`items`), or queue a hero image for a page `url` (202)."""

    async def run() -> Response:
        if isinstance(body, HeroRequest):
            accepted = await hero.submit(user=user, request=body, context=context)
            return JSONResponse(status_code=202, content=accepted.model_dump(mode="json"))
        data = await generation.handle(user=user, body=body, context=context)
        return _envelope(data, context)

    return await once(body, run)


@router.post("/generate/product", response_model=GenerateResponse, responses=_IDEMPOTENCY_RESPONSES)
async def generate_product(
    body: PromptBody, user: CurrentUser, generation: GenerationDep, context: ContextDep, once: IdempotentDep
) -> Response:
    """Generate a studio product photo of the prompt's subject (single or batch form)."""

    async def run() -> Response:
        return _envelope(await generation.handle(user=user, body=body, context=context, variant=PRODUCT), context)

    return await once(body, run)


@router.post("/generate/logo", response_model=GenerateResponse, responses=_IDEMPOTENCY_RESPONSES)
async def generate_logo(
    body: PromptBody, user: CurrentUser, generation: GenerationDep, context: ContextDep, once: IdempotentDep
) -> Response:
    """Generate a flat vector logo mark on a plain background (single or batch form)."""

    async def run() -> Response:
        return _envelope(await generation.handle(user=user, body=body, context=context, variant=LOGO), context)

    return await once(body, run)


def _envelope(data: GenerateData | BatchData, context: RequestContext) -> Response:
    return JSONResponse(Envelope(data=data, request_id=context.request_id).model_dump(mode="json"))
