"""Projects (images by URL): create, secret and its rotation, origins, signed-only, and a live
builder of signed `/p/{project}/image` URLs."""

import time
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from serve_app.api.deps import StateDep
from serve_app.errors import InvalidRequest
from serve_app.fitting import IMAGE_URL_ASPECT_RATIOS
from serve_app.schemas.image_url import ImageQuery
from serve_app.schemas.validation import invalid_request
from serve_app.services import projects, signing
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.rendering import ConsoleRoute, is_htmx, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
_BUILDER_FIELDS = ("prompt", "route", "model", "aspect_ratio", "seed", "format")


def _page(request: Request, state, project_list, **context) -> Response:
    return render(
        request,
        "projects.html",
        projects=project_list,
        aspect_ratios=list(IMAGE_URL_ASPECT_RATIOS),
        models=[m.slug for m in state.config.models],
        routes=list(state.config.chains),
        **context,
    )


@router.get("/projects")
async def projects_page(request: Request, state: StateDep, console: ConsoleSessionDep) -> Response:
    """The user's projects, each with its secret, settings and URL builder."""
    return _page(request, state, await projects.projects_of(db=state.db, user=console.user))


@router.post("/projects")
async def create_project(
    request: Request,
    state: StateDep,
    console: CsrfSessionDep,
    slug: Annotated[str, Form(max_length=63)],
    origins: Annotated[str, Form(max_length=2000)] = "",
    require_signature: Annotated[str, Form()] = "off",
) -> Response:
    """Create a project owned by the user."""
    created = await projects.create_project(
        db=state.db,
        slug=slug.strip(),
        user=console.user,
        origins=origins.split(),
        require_signature=require_signature == "on",
    )
    return _page(request, state, await projects.projects_of(db=state.db, user=console.user), created=created.slug)


@router.post("/projects/{slug}/settings")
async def update_project(
    slug: str,
    request: Request,
    state: StateDep,
    console: CsrfSessionDep,
    origins: Annotated[str, Form(max_length=2000)] = "",
    require_signature: Annotated[str, Form()] = "off",
) -> Response:
    """Set a project's allowed origins and whether it takes signed URLs only."""
    project = await projects.own_project(db=state.db, user=console.user, slug=slug)
    project = await projects.update_project(
        db=state.db, project=project, origins=origins.split(), require_signature=require_signature == "on"
    )
    return render(request, "partials/project_settings.html", project=project, saved=True)


@router.post("/projects/{slug}/rotate")
async def rotate_secret(slug: str, request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """A new signing secret; URLs signed with the old one stop working."""
    project = await projects.own_project(db=state.db, user=console.user, slug=slug)
    secret = await projects.rotate_secret(db=state.db, slug=project.slug)
    return render(
        request, "partials/project_secret.html", project=project.model_copy(update={"secret": secret}), rotated=True
    )


def _expiry(hours) -> int | None:
    if not isinstance(hours, str) or not hours.strip():
        return None
    try:
        value = float(hours)
    except ValueError:
        value = -1
    if not 0 < value <= 24 * 365:
        raise InvalidRequest(field="expires_hours", message="give hours from now, more than 0 and at most 8760")
    return int(time.time() + value * 3600)


@router.post("/projects/{slug}/url")
async def build_url(slug: str, request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """The image URL for the builder's fields, signed with the project's secret when asked or required."""
    project = await projects.own_project(db=state.db, user=console.user, slug=slug)
    form = await request.form()
    values = {
        name: text.strip() for name in _BUILDER_FIELDS if isinstance(text := form.get(name), str) and text.strip()
    }
    try:
        ImageQuery.model_validate(values)
    except ValidationError as exc:
        raise invalid_request(exc, ImageQuery) from None
    query = urlencode(values)
    if project.require_signature or form.get("sign") == "on":
        expires_at = _expiry(form.get("expires_hours"))
        query = signing.signed_query(project.secret, query, expires_at=expires_at)
    url = f"{state.config.public_base_url}/p/{project.slug}/image?{query}"
    if is_htmx(request):
        return render(request, "partials/project_url.html", url=url, slug=project.slug)
    # A click before the page's scripts load posts the form itself: answer with the whole page.
    project_list = await projects.projects_of(db=state.db, user=console.user)
    return _page(request, state, project_list, built={"slug": project.slug, "url": url})
