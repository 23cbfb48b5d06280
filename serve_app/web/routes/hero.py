"""Hero images: submit a page URL, follow each job's progress, copy the stable image_url."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response
from pydantic import ValidationError

from serve_app.api.deps import ContextDep, StateDep
from serve_app.schemas.hero import HeroRequest
from serve_app.schemas.validation import invalid_request
from serve_app.services.hero.styles import STYLES, TEXT_TREATMENTS
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.pagination import Pager
from serve_app.web.rendering import ConsoleRoute, is_htmx, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
PAGE = 10
_RUNNING = ("queued", "generating")


async def _listing(state, console, *, q: str, page: int) -> dict:
    """The user's URLs (the search of /api/v1/urls) with the progress of each running job."""
    found = await state.hero.search(user=console.user, q=q, limit=PAGE, offset=(page - 1) * PAGE)
    progress = {}
    for item in found.urls:
        for image in item.images:
            if image.status in _RUNNING:
                progress[image.image_id] = (await state.jobs.get(user=console.user, job_id=image.image_id)).progress
    running = any(image.status in _RUNNING for item in found.urls for image in item.images)
    return dict(
        urls=found.urls, progress=progress, running=running, q=q, pager=Pager(page=page, size=PAGE, total=found.total)
    )


@router.get("/hero")
async def hero_page(
    request: Request,
    state: StateDep,
    console: ConsoleSessionDep,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Submit form and the user's page URLs with their jobs (the list alone for htmx)."""
    listing = await _listing(state, console, q=q, page=page)
    template = "partials/hero_list.html" if is_htmx(request) else "hero.html"
    return render(request, template, styles=STYLES, treatments=TEXT_TREATMENTS, **listing)


@router.post("/hero")
async def submit(
    request: Request,
    state: StateDep,
    context: ContextDep,
    console: CsrfSessionDep,
    url: Annotated[str, Form(max_length=2048)],
    style: Annotated[str, Form(max_length=40)] = "auto",
    text_treatment: Annotated[str, Form(max_length=40)] = "none",
) -> Response:
    """Queue a hero image for a page URL, charged like the API's."""
    try:
        body = HeroRequest(url=url, style=style, text_treatment=text_treatment)
    except ValidationError as exc:
        raise invalid_request(exc, HeroRequest) from None
    await state.hero.submit(user=console.user, request=body, context=context)
    return render(request, "partials/hero_list.html", **await _listing(state, console, q="", page=1))
