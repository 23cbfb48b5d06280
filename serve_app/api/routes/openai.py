import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Form, UploadFile
from fastapi.responses import JSONResponse, Response, StreamingResponse

from serve_app.api.deps import ConfigDep, ContextDep, CurrentUser, OpenAIImagesDep
from serve_app.api.errors import openai_error
from serve_app.api.idempotency import IdempotentDep
from serve_app.errors import ApiError, InvalidRequest
from serve_app.schemas.openai import (
    ImagesEditRequest,
    ImagesGenerationRequest,
    ImagesResponse,
    ImageStreamEvent,
    OpenAIError,
    OpenAIModel,
    OpenAIModelList,
)
from serve_app.services.init_images import MAX_INPUT_BYTES

logger = logging.getLogger("ray.serve")

router = APIRouter(
    prefix="/v1",
    tags=["openai"],
    responses={status: {"model": OpenAIError} for status in (400, 401, 403, 404, 429, 500, 502, 503)},
)


# One Server-Sent Event of a streamed generation, as an SSE parser reads it.
_SSE_EVENT = {
    "type": "object",
    "properties": {
        "event": {
            "type": "string",
            "enum": ["image_generation.partial_image", "image_generation.completed", "error"],
        },
        "data": {"type": "string", "description": "The event as JSON (ImageStreamEvent, or an OpenAI error)."},
    },
    "required": ["event", "data"],
}


@router.post(
    "/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses={
        200: {
            "description": "The images; with `stream`, Server-Sent Events (`image_generation.partial_image`, "
            "then `image_generation.completed`, or `error`).",
            "content": {"text/event-stream": {"schema": _SSE_EVENT}},
        },
        **{status: {"model": OpenAIError} for status in (409, 422)},
    },
)
async def create_images(
    body: ImagesGenerationRequest, user: CurrentUser, images: OpenAIImagesDep, context: ContextDep, once: IdempotentDep
) -> Response:
    """OpenAI Images API: generate `n` images from a prompt; `stream` answers with Server-Sent Events."""
    if body.stream:
        if once.keyed:
            # A stream cannot be stored and replayed; ignoring the key would charge a retry again.
            raise InvalidRequest(
                field="Idempotency-Key",
                message="a streamed generation cannot be replayed; send it without the key, or without stream",
            )
        events = images.stream(user=user, request=body, context=context)
        # Awaited here so that what fails before the first event is a plain error response.
        first = await anext(events)
        return StreamingResponse(_server_sent(first, events), media_type="text/event-stream")

    async def run() -> Response:
        result = await images.generate(user=user, request=body, context=context)
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))

    return await once(body, run)


async def _server_sent(first: ImageStreamEvent, events: AsyncGenerator[ImageStreamEvent, None]) -> AsyncIterator[str]:
    """OpenAI's SSE framing; a failure after the first event becomes an `error` event."""
    try:
        yield _frame(first.type, first.model_dump_json(exclude_none=True))
        async for event in events:
            yield _frame(event.type, event.model_dump_json(exclude_none=True))
    except ApiError as exc:
        _, body, _ = openai_error(exc.status_code, exc.body())
        yield _frame("error", json.dumps({"type": "error", **body}))
    except Exception:
        logger.exception("streamed generation failed")
        body = {"message": "internal error", "type": "server_error", "param": None, "code": None}
        yield _frame("error", json.dumps({"type": "error", "error": body}))
    finally:
        await events.aclose()


def _frame(event: str, data: str) -> str:
    return f"event: {event}\ndata: {data}\n\n"


@router.post(
    "/images/edits",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    responses={status: {"model": OpenAIError} for status in (409, 422)},
)
async def edit_images(
    body: Annotated[ImagesEditRequest, Form(media_type="multipart/form-data")],
    user: CurrentUser,
    images: OpenAIImagesDep,
    context: ContextDep,
    once: IdempotentDep,
) -> Response:
    """OpenAI Images API: redraw the masked area of an image from a prompt, `n` times."""
    image = await _read(body.image, field="image")
    mask = await _read(body.mask, field="mask") if body.mask is not None else None

    async def run() -> Response:
        result = await images.edit(user=user, request=body, image=image, mask=mask, context=context)
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))

    return await once(body.identity(image=image, mask=mask), run)


async def _read(upload: UploadFile, *, field: str) -> bytes:
    data = await upload.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise InvalidRequest(field=field, message=f"the image is larger than {MAX_INPUT_BYTES // 2**20} MiB")
    return data


@router.get("/models", response_model=OpenAIModelList)
async def list_models(user: CurrentUser, config: ConfigDep) -> OpenAIModelList:
    """OpenAI Models API: the image models of the catalog."""
    return OpenAIModelList(data=[OpenAIModel(id=model.slug) for model in config.models])
