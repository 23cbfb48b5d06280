from typing import Annotated

from fastapi import APIRouter, Form, UploadFile

from serve_app.api.deps import ContextDep, CurrentUser, OpenAIImagesDep, StateDep
from serve_app.errors import InvalidRequest
from serve_app.schemas.openai import (
    ImagesEditRequest,
    ImagesGenerationRequest,
    ImagesResponse,
    OpenAIError,
    OpenAIModel,
    OpenAIModelList,
)
from serve_app.services.init_images import MAX_INPUT_BYTES

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    responses={status: {"model": OpenAIError} for status in (400, 401, 403, 404, 429, 500, 502, 503)},
)


@router.post("/images/generations", response_model=ImagesResponse, response_model_exclude_none=True)
async def create_images(
    body: ImagesGenerationRequest, user: CurrentUser, images: OpenAIImagesDep, context: ContextDep
) -> ImagesResponse:
    """OpenAI Images API: generate `n` images from a prompt."""
    return await images.generate(user=user, request=body, context=context)


@router.post("/images/edits", response_model=ImagesResponse, response_model_exclude_none=True)
async def edit_images(
    body: Annotated[ImagesEditRequest, Form(media_type="multipart/form-data")],
    user: CurrentUser,
    images: OpenAIImagesDep,
    context: ContextDep,
) -> ImagesResponse:
    """OpenAI Images API: redraw the masked area of an image from a prompt, `n` times."""
    image = await _read(body.image, field="image")
    mask = await _read(body.mask, field="mask") if body.mask is not None else None
    return await images.edit(user=user, request=body, image=image, mask=mask, context=context)


async def _read(upload: UploadFile, *, field: str) -> bytes:
    data = await upload.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidRequest(field=field, message=f"the image is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return data


@router.get("/models", response_model=OpenAIModelList)
async def list_models(user: CurrentUser, state: StateDep) -> OpenAIModelList:
    """OpenAI Models API: the image models of the catalog."""
    return OpenAIModelList(data=[OpenAIModel(id=model.slug) for model in state.config.models])
