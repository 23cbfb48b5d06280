from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import GenerateData, GenerateRequest

router = APIRouter(prefix="/api/v1", tags=["generate"])


@router.post("/generate", response_model=Envelope[GenerateData])
@router.post("/generate/", response_model=Envelope[GenerateData], include_in_schema=False)
async def generate(
    body: GenerateRequest, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> Envelope[GenerateData]:
    """Generate an image from a prompt and return its URL."""
    data = await generation.generate(user=user, request=body, context=context)
    return Envelope(data=data, request_id=context.request_id)
