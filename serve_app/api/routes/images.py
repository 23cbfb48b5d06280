from typing import Annotated

from fastapi import APIRouter, Query

from serve_app.api.deps import ContextDep, CurrentUser, DatabaseDep, IdPath, StoreDep
from serve_app.schemas.common import MAX_OFFSET, Envelope
from serve_app.schemas.images import DeletedImage, ImageList, ImagePublic
from serve_app.services import images

router = APIRouter(prefix="/api/v1", tags=["images"])


@router.get("/images", response_model=Envelope[ImageList])
async def list_images(
    user: CurrentUser,
    db: DatabaseDep,
    store: StoreDep,
    context: ContextDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Images per page.")] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Images to skip.")] = 0,
) -> Envelope[ImageList]:
    """List your stored images, newest first."""
    data = await images.list_images(db=db, store=store, user=user, limit=limit, offset=offset)
    return Envelope(data=data, request_id=context.request_id)


@router.get("/images/{image_id}", response_model=Envelope[ImagePublic])
async def get_image(
    image_id: IdPath, user: CurrentUser, db: DatabaseDep, store: StoreDep, context: ContextDep
) -> Envelope[ImagePublic]:
    """One of your stored images."""
    data = await images.get_image(db=db, store=store, user=user, image_id=image_id)
    return Envelope(data=data, request_id=context.request_id)


@router.delete("/images/{image_id}", response_model=Envelope[DeletedImage])
async def delete_image(
    image_id: IdPath, user: CurrentUser, db: DatabaseDep, store: StoreDep, context: ContextDep
) -> Envelope[DeletedImage]:
    """Delete one of your stored images, and its file."""
    data = await images.delete_image(db=db, store=store, user=user, image_id=image_id)
    return Envelope(data=data, request_id=context.request_id)
