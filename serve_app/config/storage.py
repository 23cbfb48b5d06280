"""Where generated images are stored: a local directory or an S3 bucket."""

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from serve_app.config.common import StrictModel


class S3Config(StrictModel):
    """An S3 bucket (MinIO in production) reached through the `minio` SDK."""

    endpoint: str = Field(description="`host:port` of the S3 API, e.g. `minio.pixelray.svc:9000`.")
    bucket: str = Field(min_length=3, max_length=63, description="Bucket holding the images.")
    region: str = Field(
        default="us-east-1", description="Bucket region; also spares a location lookup when presigning."
    )
    secure: bool = Field(default=True, description="HTTPS to the endpoint.")
    access_key: str | None = Field(
        default=None, description="Access key; prefer the PIXELRAY_S3_ACCESS_KEY environment variable."
    )
    secret_key: str | None = Field(
        default=None, description="Secret key; prefer the PIXELRAY_S3_SECRET_KEY environment variable."
    )
    public_base_url: str | None = Field(
        default=None,
        description="Public origin (and path) the bucket is readable at; image URLs are "
        "`{public_base_url}/{key}`. Unset: presigned URLs.",
    )
    presign_expiry_s: int = Field(
        default=7 * 24 * 3600, ge=60, le=7 * 24 * 3600, description="Lifetime of presigned URLs (at most 7 days)."
    )
    create_bucket: bool = Field(default=True, description="Create the bucket at start when it is missing.")

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        if "://" in value or "/" in value:
            raise ValueError("give host:port only, e.g. minio:9000; use `secure` for https")
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/[^\s]*)?$", value):
            raise ValueError("use an absolute http(s) URL such as https://cdn.example.com/pixelray")
        return value.rstrip("/") if value else value


class StorageConfig(StrictModel):
    """Where generated images go. With `enabled: false` images come back as data URLs."""

    enabled: bool = Field(default=True, description="Store images and return hosted URLs.")
    backend: Literal["local", "s3"] = Field(
        default="local", description="`local` (a directory served by the app) or `s3` (MinIO or any S3)."
    )
    local_dir: str = Field(default=".pixelray/files", description="Directory of the local store, served at /files/.")
    s3: S3Config | None = Field(default=None, description="The bucket, when `backend: s3`.")
    memory_cache_bytes: int = Field(
        default=128 * 2**20,
        ge=0,
        description="Bytes of recently read images each ingress replica keeps in memory, so that "
        "GET-image cache hits and `/files/` downloads skip the store; 0 turns it off.",
    )
    memory_cache_max_age_s: float = Field(
        default=10.0,
        gt=0,
        description="How long a replica answers from bytes in memory before reading the object "
        "again: an image deleted through another replica stops being served within this time.",
    )

    @model_validator(mode="after")
    def _backend_settings(self) -> "StorageConfig":
        if self.backend == "s3" and self.s3 is None:
            raise ValueError("backend s3 needs an `s3:` section with at least endpoint and bucket")
        return self
