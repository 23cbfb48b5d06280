"""Wire models of the gallery (GET/DELETE /api/v1/images)."""

from datetime import datetime

from pydantic import BaseModel, Field

from serve_app.db.models import Image


class ImagePublic(BaseModel):
    id: str
    url: str = Field(description="Where the stored image downloads from.")
    model: str
    prompt: str
    negative_prompt: str | None
    width: int
    height: int
    seed: int
    num_inference_steps: int
    guidance_scale: float
    content_type: str
    size_bytes: int
    created_at: datetime

    @classmethod
    def from_row(cls, row: Image, *, url: str) -> "ImagePublic":
        return cls(url=url, **row.model_dump(include=set(cls.model_fields) - {"url"}))


class ImageList(BaseModel):
    images: list[ImagePublic] = Field(description="Newest first.")
    total: int = Field(description="Stored images of the user, across all pages.")
    limit: int
    offset: int


class DeletedImage(BaseModel):
    id: str
    deleted: bool = True
