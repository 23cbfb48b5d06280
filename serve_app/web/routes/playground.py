"""The playground: every field of POST /api/v1/generate, run through the same GenerationService."""

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from serve_app.api.deps import ContextDep, StateDep
from serve_app.errors import InvalidRequest
from serve_app.fitting import ASPECT_RATIOS
from serve_app.schemas.generate import GenerateRequest
from serve_app.schemas.models import ModelPublic
from serve_app.schemas.prompts import BUILD_FIELDS, BuildRequest
from serve_app.schemas.validation import invalid_request
from serve_app.services import credits, images
from serve_app.services.prompts import build_prompt
from serve_app.services.variants import VARIANTS
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.rendering import ConsoleRoute, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

# Form fields passed to GenerateRequest as they are; empty ones mean "the model's default".
_REQUEST_FIELDS = (
    "prompt", "negative_prompt", "model", "aspect_ratio", "width", "height", "count", "seed",
    "num_inference_steps", "guidance_scale", "output_format", "strength",
)
# The API's JSON bodies are strictly typed (a string is never a number there); a form sends text.
_NUMBER_FIELDS = frozenset({"width", "height", "count", "seed", "num_inference_steps", "guidance_scale", "strength"})
MAX_UPLOAD_BYTES = 10 * 1024 * 1024
_UPLOAD_TYPES = ("image/png", "image/jpeg", "image/webp")


def _catalog(state) -> list[ModelPublic]:
    default = state.config.default_model_slug
    return [ModelPublic.from_config(m, default=m.slug == default) for m in state.config.models]


@router.get("/playground")
async def playground_page(
    request: Request,
    state: StateDep,
    console: ConsoleSessionDep,
    again: Annotated[str | None, Query(max_length=40, alias="from")] = None,
) -> Response:
    """The playground, optionally filled from one of the user's images (`from`)."""
    # "Use these settings again" from the gallery: only the user's own image can fill the form.
    start = await images.get_image(db=state.db, store=state.store, user=console.user, image_id=again) if again else None
    return render(
        request, "playground.html", models=_catalog(state), aspect_ratios=ASPECT_RATIOS, start=start,
        variants=list(VARIANTS), build_fields=BUILD_FIELDS,
        balance=await credits.balance(db=state.db, user_id=console.user.id),
    )


def _typed(name: str, value: str) -> str | int | float:
    """A form value as GenerateRequest takes it: numbers for its number fields."""
    if name not in _NUMBER_FIELDS:
        return value
    try:
        number = float(value)
        return int(number) if number.is_integer() and "." not in value else number
    except ValueError:
        raise InvalidRequest(field=name, message=f"enter a number, not {value!r}") from None


async def _data_url(upload: UploadFile) -> str:
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise InvalidRequest(field="image", message="the uploaded image is over 10 MiB")
    if upload.content_type not in _UPLOAD_TYPES:
        raise InvalidRequest(field="image", message="upload a PNG, JPEG or WebP image")
    return f"data:{upload.content_type};base64,{base64.b64encode(data).decode()}"


@router.post("/playground/generate")
async def generate(request: Request, state: StateDep, context: ContextDep, console: CsrfSessionDep) -> Response:
    """Generate through the API's GenerationService; the result fragment with the balance after it."""
    form = await request.form()
    values = {
        name: _typed(name, form[name].strip())
        for name in _REQUEST_FIELDS
        if isinstance(form.get(name), str) and form[name].strip()
    }
    values["enhance"] = form.get("enhance") == "on"
    upload = form.get("image")
    if isinstance(upload, UploadFile) and upload.filename:
        values.update(mode="img2img", image=await _data_url(upload))
    try:
        body = GenerateRequest.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc, GenerateRequest) from None
    variant = VARIANTS.get(str(form.get("variant") or ""))
    data = await state.generation.generate(user=console.user, request=body, context=context, variant=variant)
    balance = await credits.balance(db=state.db, user_id=console.user.id)
    return render(request, "partials/result.html", data=data, balance=balance, prompt=body.prompt)


@router.post("/playground/build")
async def build(request: Request, console: CsrfSessionDep) -> Response:
    """Assemble a prompt from its parts into the prompt field."""
    form = await request.form()
    values = {name: form[name] for name in BUILD_FIELDS if isinstance(form.get(name), str) and form[name].strip()}
    try:
        built = build_prompt(BuildRequest.model_validate(values).model_dump())
    except ValidationError as exc:
        raise invalid_request(exc, BuildRequest) from None
    return render(request, "partials/prompt.html", prompt=built)
