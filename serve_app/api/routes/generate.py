from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import BatchData, GenerateBody, GenerateData
from serve_app.services.variants import LOGO, PRODUCT

router = APIRouter(prefix="/api/v1", tags=["generate"])
GenerateResponse = Envelope[GenerateData] | Envelope[BatchData]


@router.post("/generate", response_model=GenerateResponse)
@router.post("/generate/", response_model=GenerateResponse, include_in_schema=False)
async def generate(
    body: GenerateBody, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> GenerateResponse:
    """Generate images from a prompt (or from each prompt of a batch under `items`) and return their URLs."""
    data = await generation.run(user=user, body=body, context=context)
    return Envelope(data=data, request_id=context.request_id)


@router.post("/generate/product", response_model=GenerateResponse)
async def generate_product(
    body: GenerateBody, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> GenerateResponse:
    """Generate a studio product photo of the prompt's subject (single or batch form)."""
    data = await generation.run(user=user, body=body, context=context, variant=PRODUCT)
    return Envelope(data=data, request_id=context.request_id)


@router.post("/generate/logo", response_model=GenerateResponse)
async def generate_logo(
    body: GenerateBody, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> GenerateResponse:
    """Generate a flat vector logo mark on a plain background (single or batch form)."""
    data = await generation.run(user=user, body=body, context=context, variant=LOGO)
    return Envelope(data=data, request_id=context.request_id)
