"""Database tables (SQLModel). Wire models live in `schemas/`; these never leave the server."""

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Index, LargeBinary, UniqueConstraint, false
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


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
    """One admitted generation request and how it ended. `request_id` is made by the server."""

    __table_args__ = (Index("ix_usagerecord_status_lease", "status", "lease_expires_at"),)

    request_id: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    model: str = Field(max_length=64)
    images: int
    credits: int
    status: str = Field(default="pending", max_length=16, description="pending, succeeded, failed.")
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    finished_at: datetime | None = None
    # While pending: the ingress serving it renews this; past it, the reaper refunds the request.
    # Null once settled, or while a durable job owns the request (the job queue settles it).
    lease_expires_at: datetime | None = None
    correlation_id: str | None = Field(
        default=None, max_length=64, description="The client-facing request id (X-Request-Id); never a key."
    )


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
    allowed_origins: str = Field(default="", max_length=2000, description="Space-separated origins; empty allows any.")
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
    # The model's safety verdict, which every later hit reports: null when it runs no checker.
    nsfw: bool | None = None
    blocked: bool = Field(default=False, sa_column_kwargs={"server_default": false()})


class PageUrl(SQLModel, table=True):
    """A page URL a user asked a hero image for; one row per user and URL, reused on resubmission."""

    __table_args__ = (UniqueConstraint("user_id", "url", name="uq_pageurl_user_url"),)

    id: str = Field(primary_key=True, max_length=40)
    user_id: int = Field(foreign_key="user.id", index=True)
    url: str = Field(max_length=2048)
    title: str = Field(default="", max_length=300)
    site_name: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, index=True)


class Job(SQLModel, table=True):
    """A durable unit of background work (a hero image). Committed before the client hears 202;
    a worker leases it, and an expired lease puts it back in the queue."""

    __table_args__ = (Index("ix_job_status_created", "status", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    kind: str = Field(default="hero", max_length=16)
    user_id: int = Field(foreign_key="user.id", index=True)
    request_id: str = Field(max_length=64, description="The admission that paid for it.")
    url_id: str = Field(foreign_key="pageurl.id", index=True, max_length=40)
    model: str = Field(max_length=64)
    style: str = Field(max_length=32)
    text_treatment: str = Field(max_length=16)
    status: str = Field(
        default="queued", max_length=16, description="queued, generating, completed, failed, cancelled."
    )
    attempt: int = 0
    max_attempts: int = 3
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    stage: str = Field(default="queued", max_length=32)
    progress_step: int = 0
    progress_total: int = 0
    style_used: str | None = Field(default=None, max_length=32)
    prompt: str | None = None
    storage_key: str | None = Field(default=None, max_length=200)
    error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    completed_at: datetime | None = None
    webhook_url: str | None = Field(default=None, max_length=2048, description="Told when the job ends.")


class IdempotencyKey(SQLModel, table=True):
    """A client's `Idempotency-Key`, scoped to its user: `running` while the first request runs
    (held by `claim` until `locked_until`), then `completed` with the response to replay."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    key: str = Field(primary_key=True, max_length=255)
    fingerprint: str = Field(max_length=64, description="SHA-256 of the endpoint and the request body.")
    status: str = Field(max_length=16, description="running or completed.")
    claim: str = Field(max_length=32, description="Fences the running request that holds the key.")
    locked_until: datetime
    response_status: int | None = None
    response_body: bytes | None = Field(default=None, sa_type=LargeBinary)
    content_type: str | None = Field(default=None, max_length=100)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class WebhookSecret(SQLModel, table=True):
    """A user's webhook signing secret (`whsec_...`), kept in clear: signing needs the key itself."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    secret: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One event to deliver to a user's webhook URL. The jobs worker leases due rows, so a
    delivery outlives the replica that was sending it; `id` is the `webhook-id` the receiver
    deduplicates on, the same on every attempt."""

    __table_args__ = (Index("ix_webhookdelivery_status_next", "status", "next_attempt_at"),)

    id: str = Field(primary_key=True, max_length=40)
    user_id: int = Field(foreign_key="user.id", index=True)
    job_id: str | None = Field(default=None, max_length=64, index=True, description="Job id or batch request id.")
    event: str = Field(max_length=32, description="job.completed or job.failed.")
    url: str = Field(max_length=2048)
    payload: str = Field(description="The JSON body, fixed when the event happened.")
    status: str = Field(default="pending", max_length=16, description="pending, delivered or failed.")
    attempts: int = 0
    next_attempt_at: datetime
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: datetime | None = None
    last_status_code: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = Field(default_factory=utcnow, index=True)
    delivered_at: datetime | None = None


class Account(SQLModel, table=True):
    """A user's console log-in and role. Users made by the CLI have no password until one is set."""

    user_id: int = Field(foreign_key="user.id", primary_key=True)
    password_hash: str | None = Field(default=None, max_length=200, description="Argon2id, PHC string.")
    role: str = Field(default="user", max_length=16, description="user or admin.")
    updated_at: datetime = Field(default_factory=utcnow)


class ConsoleSession(SQLModel, table=True):
    """A console log-in. The cookie carries a random token; only its SHA-256 is stored."""

    token_hash: str = Field(primary_key=True, max_length=64)
    user_id: int = Field(foreign_key="user.id", index=True)
    csrf_token: str = Field(max_length=64, description="Every state-changing console request must send it.")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime = Field(index=True)


class LoginFailure(SQLModel, table=True):
    """A bad password, counted per account and per address over the last minute, on every replica."""

    __table_args__ = (
        Index("ix_loginfailure_account_at", "account", "at"),
        Index("ix_loginfailure_address_at", "address", "at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    account: str = Field(max_length=200)
    address: str = Field(max_length=64)
    at: datetime


class ServerSetting(SQLModel, table=True):
    """A server setting an admin changed in the console; it wins over the serve config's value."""

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=500, description="The value as JSON.")
    updated_by: str = Field(max_length=200, description="The admin's user name, kept for the audit trail.")
    updated_at: datetime = Field(default_factory=utcnow)
