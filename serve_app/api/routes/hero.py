from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from serve_app.api.deps import CurrentUser, HeroDep, IdPath
from serve_app.errors import NotFound
from serve_app.schemas.common import MAX_OFFSET, Text
from serve_app.schemas.hero import UrlItem, UrlList

router = APIRouter(tags=["hero images"])


@router.get("/img/{url_id}/", response_class=Response, responses={302: {}, 404: {}})
async def hero_image(url_id: IdPath, hero: HeroDep) -> Response:
    """Redirect to the URL's newest hero image; 404 until the first one is ready."""
    location = await hero.newest_image(url_id)
    if location is None:
        raise NotFound(f"no image for {url_id!r} yet", headers={"Cache-Control": "no-store"})
    # The newest image changes when a new one completes: caches must come back and ask.
    return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-cache"})


@router.get("/api/v1/urls/", response_model=UrlList)
async def search_urls(
    user: CurrentUser,
    hero: HeroDep,
    q: Annotated[Text, Query(max_length=200, description="Case-insensitive match on URL or page title.")] = "",
    limit: Annotated[int, Query(ge=1, le=100, description="URLs per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="URLs to skip.")] = 0,
) -> UrlList:
    """Search your page URLs by URL and page title."""
    return await hero.search(user=user, q=q, limit=limit, offset=offset)


@router.get("/api/v1/urls/{url_id}/", response_model=UrlItem)
async def get_url(url_id: IdPath, user: CurrentUser, hero: HeroDep) -> UrlItem:
    """One of your page URLs with all its images."""
    return await hero.get(user=user, url_id=url_id)
