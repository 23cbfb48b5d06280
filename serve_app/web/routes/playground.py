"""The playground: every field of POST /api/v1/generate (LoRA adapters, inpainting and hires
included) and POST /api/v1/upscale, run through the API's own GenerationService."""

from functools import partial
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import ValidationError

from serve_app.api.deps import ContextDep, StateDep
from serve_app.fitting import ASPECT_RATIOS
from serve_app.schemas.generate import GenerateData
from serve_app.schemas.models import ModelPublic
from serve_app.schemas.prompts import BUILD_FIELDS, BuildRequest
from serve_app.schemas.validation import invalid_request
from serve_app.services import credits, images
from serve_app.services.prompts import build_prompt
from serve_app.services.variants import VARIANTS
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.playground_form import LORA_WEIGHT, generate_request, upscale_request
from serve_app.web.rendering import PAGE_HEADERS, ConsoleRoute, render, render_fragment
from serve_app.web.streaming import server_sent, with_progress

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
# A preview every steps ÷ (PREVIEWS + 1) steps: 3 in an 8-step run, a preview a step in short
# runs. Each is a cheap projection of the latents, no VAE decode.
PREVIEWS = 3


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
    assert console.user.id is not None  # the signed-in user, read from the database
    # "Use these settings again" from the gallery: only the user's own image can fill the form.
    start = await images.get_image(db=state.db, store=state.store, user=console.user, image_id=again) if again else None
    catalog = _catalog(state)
    return render(
        request,
        "playground.html",
        start=start,
        aspect_ratios=ASPECT_RATIOS,
        variants=list(VARIANTS),
        models=[m for m in catalog if "upscale" not in m.modes],
        upscalers=[m for m in catalog if "upscale" in m.modes],
        build_fields=BUILD_FIELDS,
        lora_weight=LORA_WEIGHT,
        balance=await credits.balance(db=state.db, user_id=console.user.id),
    )


async def _result_html(state, console, prompt: str, data: GenerateData) -> str:
    balance = await credits.balance(db=state.db, user_id=console.user.id)
    return render_fragment("partials/result.html", data=data, balance=balance, prompt=prompt)


@router.post("/playground/generate")
async def generate(request: Request, state: StateDep, context: ContextDep, console: CsrfSessionDep) -> Response:
    """Generate through the API's GenerationService: the result fragment with the balance after it,
    or, asked for `text/event-stream`, the run's steps and previews first."""
    assert console.user.id is not None  # the signed-in user, read from the database
    form = await request.form()
    body = await generate_request(form)
    run = partial(
        state.generation.generate,
        user=console.user,
        request=body,
        context=context,
        variant=VARIANTS.get(str(form.get("variant") or "")),
    )
    if "text/event-stream" not in request.headers.get("Accept", ""):
        data = await run()
        balance = await credits.balance(db=state.db, user_id=console.user.id)
        return render(request, "partials/result.html", data=data, balance=balance, prompt=body.prompt)
    events = with_progress(lambda on_progress: run(on_progress=on_progress, previews=PREVIEWS))
    # Awaited here so that what fails before the first step (a bad field, no credits) is an error page.
    first = await anext(events)
    stream = server_sent(
        first,
        events,
        media_type=f"image/{body.output_format}",
        result_html=partial(_result_html, state, console, body.prompt),
        error_html=lambda message: render_fragment("partials/error.html", message=message),
    )
    return StreamingResponse(stream, media_type="text/event-stream", headers=PAGE_HEADERS)


@router.post("/playground/upscale")
async def upscale(request: Request, state: StateDep, context: ContextDep, console: CsrfSessionDep) -> Response:
    """Enlarge an uploaded image through the API's upscale service; the result fragment."""
    assert console.user.id is not None  # the signed-in user, read from the database
    body = await upscale_request(await request.form())
    data = await state.generation.upscale(user=console.user, request=body, context=context)
    balance = await credits.balance(db=state.db, user_id=console.user.id)
    return render(request, "partials/result.html", data=data, balance=balance, prompt=body.prompt)


@router.post("/playground/build")
async def build(request: Request, console: CsrfSessionDep) -> Response:
    """Assemble a prompt from its parts into the prompt field."""
    form = await request.form()
    values = {name: text for name in BUILD_FIELDS if isinstance(text := form.get(name), str) and text.strip()}
    try:
        built = build_prompt(BuildRequest.model_validate(values).model_dump())
    except ValidationError as exc:
        raise invalid_request(exc, BuildRequest) from None
    return render(request, "partials/prompt.html", prompt=built)
