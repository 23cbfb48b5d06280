from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep
from serve_app.api.idempotency import IdempotentDep
from serve_app.schemas.common import Envelope, ErrorEnvelope
from serve_app.schemas.generate import GenerateData
from serve_app.schemas.upscale import UpscaleRequest

router = APIRouter(prefix="/api/v1", tags=["generate"])


@router.post(
    "/upscale",
    response_model=Envelope[GenerateData],
    responses={
        409: {"model": ErrorEnvelope, "description": "The first request with this Idempotency-Key is still running."},
        422: {"model": ErrorEnvelope, "description": "This Idempotency-Key was used with another request."},
    },
)
async def upscale(
    body: UpscaleRequest, user: CurrentUser, generation: GenerationDep, context: ContextDep, once: IdempotentDep
) -> Response:
    """Enlarge an image 2 or 4 times on an upscaler model."""

    async def run() -> Response:
        data = await generation.upscale(user=user, request=body, context=context)
        return JSONResponse(Envelope(data=data, request_id=context.request_id).model_dump(mode="json"))

    return await once(body, run)
