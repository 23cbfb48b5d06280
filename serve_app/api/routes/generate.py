from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import Discriminator, Tag

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep, HeroDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import BatchData, BatchRequest, GenerateData, GenerateRequest
from serve_app.schemas.hero import HeroAccepted, HeroRequest
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


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses={202: {"model": HeroAccepted, "description": "A `url` body: the hero image job was queued."}},
)
@router.post("/generate/", response_model=GenerateResponse, include_in_schema=False)
async def generate(
    body: GenerateBody, user: CurrentUser, generation: GenerationDep, hero: HeroDep, context: ContextDep
) -> Any:
    """Generate images from a prompt or a batch of prompts (`items`), or queue a hero image for a page `url` (202)."""
    if isinstance(body, HeroRequest):
        accepted = await hero.submit(user=user, request=body, context=context)
        return JSONResponse(status_code=202, content=accepted.model_dump(mode="json"))
    data = await generation.handle(user=user, body=body, context=context)
    return Envelope(data=data, request_id=context.request_id)


@router.post("/generate/product", response_model=GenerateResponse)
async def generate_product(
    body: PromptBody, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> GenerateResponse:
    """Generate a studio product photo of the prompt's subject (single or batch form)."""
    data = await generation.handle(user=user, body=body, context=context, variant=PRODUCT)
    return Envelope(data=data, request_id=context.request_id)


@router.post("/generate/logo", response_model=GenerateResponse)
async def generate_logo(
    body: PromptBody, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> GenerateResponse:
    """Generate a flat vector logo mark on a plain background (single or batch form)."""
    data = await generation.handle(user=user, body=body, context=context, variant=LOGO)
    return Envelope(data=data, request_id=context.request_id)
