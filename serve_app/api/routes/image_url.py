"""`<img src="https://HOST/p/PROJECT/image?prompt=...">`: every answer is an image."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from serve_app.api.deps import ContextDep, HostProject, ImageUrlDep
from serve_app.api.errors import ImageRoute
from serve_app.schemas.image_url import ImageQuery
from serve_app.services.context import RequestContext
from serve_app.services.image_url import ImageAnswer, ImageUrlService

router = APIRouter(tags=["image"], route_class=ImageRoute)

IMMUTABLE = "public, max-age=31536000, immutable"
# Only from models that run a safety checker: its verdict, and whether a placeholder replaced the image.
NSFW_HEADER = "X-Pixelray-NSFW"
BLOCKED_HEADER = "X-Pixelray-Blocked"
_IMAGE_CONTENT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/webp": {}, "image/png": {}, "image/jpeg": {}}, "description": "The image."},
    304: {"description": "Not modified (If-None-Match matched the ETag)."},
    **{
        status: {"content": {"image/png": {}}, "description": "A placeholder image; see X-Error-Code."}
        for status in (400, 402, 403, 404, 429, 500, 502, 503)
    },
}


def _matches(if_none_match: str | None, etag: str) -> bool:
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ prefix does not prevent a match.
    if not if_none_match:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def image_response(answer: ImageAnswer, request: Request) -> Response:
    headers = {
        "ETag": answer.etag,
        "X-Cache": "HIT" if answer.cache_hit else "MISS",
        "X-Credits": str(answer.credits),
        "X-Model": answer.model,
        "X-Generation-Time-Ms": str(answer.elapsed_ms),
        # Unseeded and uncached: the same URL draws a new image next time.
        "Cache-Control": IMMUTABLE if answer.fixed else "no-cache",
    }
    if answer.verdict.nsfw is not None:
        headers[NSFW_HEADER] = "true" if answer.verdict.nsfw else "false"
        headers[BLOCKED_HEADER] = "true" if answer.verdict.blocked else "false"
    if _matches(request.headers.get("if-none-match"), answer.etag):
        return Response(status_code=304, headers=headers)
    return Response(content=answer.data, media_type=answer.content_type, headers=headers)


async def _serve(
    slug: str, query: ImageQuery, request: Request, images: ImageUrlService, context: RequestContext
) -> Response:
    answer = await images.serve(
        slug=slug,
        query=query,
        raw_query=request.url.query,
        referrer=request.headers.get("referer") or request.headers.get("origin"),
        request_id=context.request_id,
    )
    return image_response(answer, request)


@router.get("/p/{project}/image", response_class=Response, responses=_IMAGE_CONTENT)
async def project_image(
    project: str, query: Annotated[ImageQuery, Query()], request: Request, images: ImageUrlDep, context: ContextDep
) -> Response:
    """The image for the prompt in the URL, billed to the project's owner; errors are placeholder images."""
    return await _serve(project, query, request, images, context)


@router.get("/image", response_class=Response, responses=_IMAGE_CONTENT)
async def host_image(
    project: HostProject,
    query: Annotated[ImageQuery, Query()],
    request: Request,
    images: ImageUrlDep,
    context: ContextDep,
) -> Response:
    """As `/p/{project}/image`, with the project taken from the host: `PROJECT.BASE_DOMAIN/image`."""
    return await _serve(project, query, request, images, context)
