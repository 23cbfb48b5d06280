"""Wire models of the gallery (GET/DELETE /api/v1/images) and of the user's settings."""

from datetime import datetime

from pydantic import BaseModel, Field

from serve_app.db.models import Image
from serve_app.schemas.common import StrictRequest
from serve_app.schemas.generate import StorageInfo


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


class SettingsUpdate(StrictRequest):
    storage_enabled: bool = Field(
        description="Store your images and get hosted URLs (true) or get data: URLs and store nothing (false)."
    )


class SettingsData(BaseModel):
    storage_enabled: bool = Field(description="Your preference.")
    storage: StorageInfo = Field(description="Whether images are stored, given your plan and the server.")
