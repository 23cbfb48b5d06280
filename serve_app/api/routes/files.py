from fastapi import APIRouter
from fastapi.responses import Response

from serve_app.api.deps import StoreDep
from serve_app.errors import NotFound
from serve_app.storage.base import ObjectNotFound

router = APIRouter(tags=["files"])


@router.get("/files/{key:path}", response_class=Response)
async def get_file(key: str, store: StoreDep) -> Response:
    """Download a stored image (the local object store's public URLs)."""
    try:
        stored = await store.get(key)
    except ObjectNotFound:
        raise NotFound(f"no file at /files/{key}") from None
    # Keys are random and never reused, so the bytes under one URL never change.
    return Response(
        content=stored.data,
        media_type=stored.content_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )
