"""Where a finished image goes, and its record: the object store (or inline as a data URL), and
the `Image` row the caller commits with the request's settlement. Every entry point that makes
an image (native and OpenAI generations, GET-image URLs, hero jobs) publishes it here."""

import base64
import logging
import secrets
from dataclasses import dataclass

from deployments.protocol import GenerationParams, GenerationResult
from serve_app.db.models import Image
from serve_app.errors import ServiceUnavailable
from serve_app.schemas.generate import GeneratedImage
from serve_app.services.safety import NOT_JUDGED, Verdict
from serve_app.storage.base import ObjectStore, StorageUnavailable, new_image_key

logger = logging.getLogger("ray.serve")


@dataclass(frozen=True)
class PublishedImage:
    """An image, the URL it is served from, its row (not yet committed) and the safety verdict."""

    result: GenerationResult
    url: str
    row: Image
    verdict: Verdict = NOT_JUDGED

    @property
    def id(self) -> str:
        return self.row.id

    @property
    def key(self) -> str | None:
        return self.row.storage_key

    def public(self) -> GeneratedImage:
        return GeneratedImage(
            id=self.id, image=self.url, seed=self.result.seed, nsfw=self.verdict.nsfw, blocked=self.verdict.blocked
        )


async def publish(
    result: GenerationResult,
    *,
    params: GenerationParams,
    model: str,
    user_id: int,
    request_id: str,
    store: ObjectStore,
    enabled: bool = True,
    key: str | None = None,
    verdict: Verdict = NOT_JUDGED,
) -> PublishedImage:
    """Stores `result` under `key` (else a new unguessable one) and returns its URL and row; with
    storage off (`enabled` false), a data URL and a row without a key. ServiceUnavailable when
    the store cannot take it."""
    if not enabled:
        url, key = f"data:{result.content_type};base64,{base64.b64encode(result.image).decode()}", None
    else:
        key = key or new_image_key(result.content_type)
        try:
            await store.put(key, result.image, content_type=result.content_type)
        except StorageUnavailable as exc:
            raise ServiceUnavailable(
                f"image storage is unavailable ({exc}); the credits were refunded, retry shortly", retry_after=5
            ) from None
        url = store.url(key)
    row = Image(
        id=f"img_{secrets.token_hex(12)}",
        request_id=request_id,
        user_id=user_id,
        model=model,
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        width=result.width,
        height=result.height,
        num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale,
        seed=result.seed,
        content_type=result.content_type,
        size_bytes=len(result.image),
        storage_key=key,
        inference_ms=round(result.inference_seconds * 1000),
    )
    return PublishedImage(result=result, url=url, row=row, verdict=verdict)


async def discard_images(store: ObjectStore, keys: list[str]) -> None:
    """Best effort: objects of a request that failed after storing some of its images."""
    for key in keys:
        try:
            await store.delete(key)
        except Exception:
            logger.warning("could not delete orphaned object %s", key, exc_info=True)
