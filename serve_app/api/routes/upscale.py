from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import GenerateData
from serve_app.schemas.upscale import UpscaleRequest

router = APIRouter(prefix="/api/v1", tags=["generate"])


@router.post("/upscale", response_model=Envelope[GenerateData])
async def upscale(
    body: UpscaleRequest, user: CurrentUser, generation: GenerationDep, context: ContextDep
) -> Envelope[GenerateData]:
    """Enlarge an image 2 or 4 times on an upscaler model."""
    data = await generation.upscale(user=user, request=body, context=context)
    return Envelope(data=data, request_id=context.request_id)
