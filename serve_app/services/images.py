"""The gallery: a user's stored images, listed, fetched and deleted together with their objects."""

from sqlalchemy import ColumnElement, func, update
from sqlmodel import col, select

from serve_app.db.models import Image, User
from serve_app.db.session import Database
from serve_app.errors import NotFound, ServiceUnavailable
from serve_app.schemas.images import DeletedImage, ImageList, ImagePublic
from serve_app.storage.base import ObjectStore, StorageUnavailable


def _stored_by(user: User) -> ColumnElement[bool]:
    return (col(Image.user_id) == user.id) & col(Image.storage_key).is_not(None)


def _stored_key(row: Image) -> str:
    # Rows are read through `_stored_by`, which keeps only images with a stored object.
    assert row.storage_key is not None
    return row.storage_key


async def list_images(*, db: Database, store: ObjectStore, user: User, limit: int, offset: int) -> ImageList:
    async with db.read() as session:
        total = (await session.exec(select(func.count()).select_from(Image).where(_stored_by(user)))).one()
        rows = await session.exec(
            select(Image)
            .where(_stored_by(user))
            .order_by(col(Image.created_at).desc(), col(Image.id))
            .limit(limit)
            .offset(offset)
        )
        images = [ImagePublic.from_row(row, url=store.url(_stored_key(row))) for row in rows]
    return ImageList(images=images, total=total, limit=limit, offset=offset)


async def _own_image(db: Database, *, user: User, image_id: str) -> Image:
    async with db.read() as session:
        row = (await session.exec(select(Image).where(col(Image.id) == image_id, _stored_by(user)))).first()
    # Another user's image is indistinguishable from a missing one.
    if row is None:
        raise NotFound(f"no stored image {image_id!r}")
    return row


async def get_image(*, db: Database, store: ObjectStore, user: User, image_id: str) -> ImagePublic:
    row = await _own_image(db, user=user, image_id=image_id)
    return ImagePublic.from_row(row, url=store.url(_stored_key(row)))


async def delete_image(*, db: Database, store: ObjectStore, user: User, image_id: str) -> DeletedImage:
    """Deletes the object, then forgets its key; the row stays as the record of the generation."""
    row = await _own_image(db, user=user, image_id=image_id)
    try:
        await store.delete(_stored_key(row))
    except StorageUnavailable as exc:
        raise ServiceUnavailable(f"image storage is unavailable ({exc}); retry the delete", retry_after=5) from None
    async with db.write() as session:
        await session.execute(update(Image).where(col(Image.id) == image_id).values(storage_key=None))
    return DeletedImage(id=image_id)
