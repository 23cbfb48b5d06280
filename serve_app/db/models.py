"""Database tables (SQLModel). Wire models live in `schemas/`; these never leave the server."""

from datetime import datetime, timezone

from sqlalchemy import BigInteger, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class User(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(index=True, unique=True, max_length=200)
    plan: str = Field(max_length=64, description="Slug of a plan in the serve config.")
    storage_enabled: bool = Field(default=True, description="The user's own storage preference.")
    suspended: bool = False
    # Kept equal to the sum of the user's ledger rows; changed only together with a ledger insert.
    balance: int = Field(default=0, sa_type=BigInteger)
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


class CreditEntry(SQLModel, table=True):
    """Append-only credit ledger. One row per (request, kind): a request is refunded at most once."""

    __table_args__ = (UniqueConstraint("request_id", "kind", name="uq_creditentry_request_kind"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    kind: str = Field(max_length=16, description="grant, debit or refund.")
    amount: int = Field(sa_type=BigInteger, description="Signed: debits are negative.")
    request_id: str | None = Field(default=None, max_length=64)
    note: str = Field(default="", max_length=500)
    created_at: datetime = Field(default_factory=utcnow)


class UsageRecord(SQLModel, table=True):
    """One admitted generation request and how it ended."""

    request_id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    model: str = Field(max_length=64)
    images: int
    credits: int
    status: str = Field(default="pending", max_length=16, description="pending, succeeded, failed.")
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None


class UsageCounter(SQLModel, table=True):
    """Requests and images per user per UTC day (`2026-11-22`) or month (`2026-11`)."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    period: str = Field(primary_key=True, max_length=10)
    requests: int = 0
    images: int = 0


class RateEvent(SQLModel, table=True):
    """An admitted request's time, for the sliding per-minute window."""

    __table_args__ = (Index("ix_rateevent_user_at", "user_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id")
    at: datetime


class InflightGeneration(SQLModel, table=True):
    """A running generation, counted for the concurrency limit; the expiry frees slots of crashed replicas."""

    request_id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    expires_at: datetime


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


class Project(SQLModel, table=True):
    """A GET-image URL namespace (`/p/{slug}/image`), billed to its owner.

    `secret` is kept in clear: verifying an HMAC needs the key itself, unlike an API key.
    """

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(index=True, unique=True, max_length=63)
    user_id: int = Field(foreign_key="user.id", index=True)
    allowed_origins: str = Field(
        default="", max_length=2000, description="Space-separated origins; empty allows any."
    )
    require_signature: bool = False
    secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def origins(self) -> list[str]:
        return self.allowed_origins.split()


class CachedImage(SQLModel, table=True):
    """One GET-image cache entry, and the lock that lets one request generate it while identical
    ones wait: `pending` with a lease, then `ready` (or `failed`, which the next request retries)."""

    key: str = Field(primary_key=True, max_length=64, description="SHA-256 of project + canonical params.")
    project_id: int = Field(foreign_key="project.id", index=True)
    status: str = Field(max_length=16, description="pending, ready or failed.")
    lease_expires_at: datetime
    storage_key: str | None = Field(default=None, max_length=200)
    content_type: str | None = Field(default=None, max_length=32)
    etag: str | None = Field(default=None, max_length=80)
    model: str | None = Field(default=None, max_length=64)
    seed: int | None = Field(default=None, sa_type=BigInteger)
    generation_ms: int | None = None
    error: str | None = Field(default=None, max_length=500)
    updated_at: datetime = Field(default_factory=utcnow)
