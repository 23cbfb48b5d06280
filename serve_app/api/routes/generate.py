from fastapi import APIRouter

from serve_app.api.deps import CurrentUser, GenerationDep, RequestIdDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import GenerateData, GenerateRequest

router = APIRouter(prefix="/api/v1", tags=["generate"])


@router.post("/generate", response_model=Envelope[GenerateData])
@router.post("/generate/", response_model=Envelope[GenerateData], include_in_schema=False)
async def generate(
    body: GenerateRequest, user: CurrentUser, generation: GenerationDep, request_id: RequestIdDep
) -> Envelope[GenerateData]:
    """Generate an image from a prompt and return its URL."""
    data = await generation.generate(user=user, request=body, request_id=request_id)
    return Envelope(data=data, request_id=request_id)
