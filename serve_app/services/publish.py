"""Where a finished image goes: the object store under a new unguessable key, or inline."""

import base64
import logging

from deployments.protocol import GenerationResult
from serve_app.errors import ServiceUnavailable
from serve_app.storage.base import ObjectStore, StorageUnavailable, new_image_key

logger = logging.getLogger("ray.serve")


async def publish_image(
    result: GenerationResult, *, store: ObjectStore, enabled: bool
) -> tuple[str, str | None]:
    """Stores the image and returns (url, key), or a data URL and no key when storage is off."""
    if not enabled:
        encoded = base64.b64encode(result.image).decode()
        return f"data:{result.content_type};base64,{encoded}", None
    key = new_image_key(result.content_type)
    try:
        await store.put(key, result.image, content_type=result.content_type)
    except StorageUnavailable as exc:
        raise ServiceUnavailable(
            f"image storage is unavailable ({exc}); the credits were refunded, retry shortly", retry_after=5
        ) from None
    return store.url(key), key


async def discard_images(store: ObjectStore, keys: list[str]) -> None:
    """Best effort: objects of a request that failed after storing some of its images."""
    for key in keys:
        try:
            await store.delete(key)
        except Exception:
            logger.warning("could not delete orphaned object %s", key, exc_info=True)
