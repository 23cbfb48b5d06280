from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from serve_app.api.deps import ContextDep, CurrentUser, OpenAIImagesDep, StateDep
from serve_app.api.idempotency import IdempotentDep
from serve_app.schemas.openai import (
    ImagesGenerationRequest,
    ImagesResponse,
    OpenAIError,
    OpenAIModel,
    OpenAIModelList,
)

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    responses={status: {"model": OpenAIError} for status in (400, 401, 403, 404, 429, 500, 502, 503)},
)


@router.post(
    "/images/generations", response_model=ImagesResponse, response_model_exclude_none=True,
    responses={status: {"model": OpenAIError} for status in (409, 422)},
)
async def create_images(
    body: ImagesGenerationRequest, user: CurrentUser, images: OpenAIImagesDep, context: ContextDep, once: IdempotentDep
) -> Response:
    """OpenAI Images API: generate `n` images from a prompt."""

    async def run() -> Response:
        result = await images.generate(user=user, request=body, context=context)
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))

    return await once(body, run)


@router.get("/models", response_model=OpenAIModelList)
async def list_models(user: CurrentUser, state: StateDep) -> OpenAIModelList:
    """OpenAI Models API: the image models of the catalog."""
    return OpenAIModelList(data=[OpenAIModel(id=model.slug) for model in state.config.models])
