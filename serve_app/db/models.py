"""Database tables (SQLModel). Wire models live in `schemas/`; these never leave the server."""

from datetime import datetime, timezone

from sqlalchemy import BigInteger
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    created_at: datetime = Field(default_factory=utcnow)


class ApiKey(SQLModel, table=True):
    """An API key, stored as a SHA-256 hash; `prefix` is its clear start, used for lookup."""

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    prefix: str = Field(index=True, unique=True, max_length=32)
    key_hash: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None


class Image(SQLModel, table=True):
    """One generated image. `storage_key` is null when it was returned inline as a data URL."""

    id: str = Field(primary_key=True, max_length=40)
    request_id: str = Field(index=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    model: str = Field(max_length=64)
    prompt: str
    negative_prompt: str | None = None
    width: int
    height: int
    num_inference_steps: int
    guidance_scale: float
    seed: int = Field(sa_type=BigInteger)
    content_type: str = Field(max_length=32)
    size_bytes: int
    storage_key: str | None = Field(default=None, max_length=200)
    inference_ms: int
    created_at: datetime = Field(default_factory=utcnow, index=True)
