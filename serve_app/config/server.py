"""How the ingress serves: browser origins, the ledger's leases, body limits and the console."""

import re

from pydantic import Field, field_validator

from serve_app.config.common import StrictModel


class CorsConfig(StrictModel):
    """Browser access to the API from other origins."""

    strict_origins: bool = Field(
        default=False, description="Only `allowed_origins` may call the API from a browser; otherwise any origin may."
    )
    allowed_origins: list[str] = Field(
        default_factory=list, description="Origins such as `https://app.example.com`, used when strict."
    )

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        for origin in value:
            if not re.match(r"^https?://[^/\s]+$", origin):
                raise ValueError(f"{origin!r} is not an origin; use scheme://host[:port] with no path")
        return value


class LedgerConfig(StrictModel):
    """Leases on admitted requests, the reaper that settles the ones whose ingress died, and
    idempotency keys."""

    lease_s: float = Field(
        default=60.0,
        ge=1,
        description="How long an admitted request stays charged without its ingress "
        "renewing the lease; once it lapses the reaper refunds the request and frees its slot.",
    )
    reaper_interval_s: float = Field(
        default=5.0, gt=0, description="How often the jobs worker settles lapsed leases and purges old keys."
    )
    idempotency_ttl_s: float = Field(
        default=86400.0, ge=60, description="How long an Idempotency-Key and its stored response are kept."
    )
    group_commit: bool = Field(
        default=True,
        description="Commit the admissions and settlements of concurrent requests together, "
        "one transaction per group; false gives each its own transaction.",
    )
    group_commit_max_ops: int = Field(default=128, ge=1, description="Most admissions or settlements in one group.")


class BodyLimitsConfig(StrictModel):
    """Largest request bodies the ingress reads; larger ones get a 413 before any of it is read."""

    max_body_bytes: int = Field(
        default=64 * 1024,
        ge=4 * 1024,
        description="Every route but the generate routes: prompts, settings, hero and OpenAI forms.",
    )
    max_generate_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        ge=15 * 1024 * 1024,
        description="POST /api/v1/generate and its variants, whose img2img `image` may be a 10 MiB "
        "image as a data: URL (about 14 MiB of base64); at least 15 MiB. The batch form shares it.",
    )


class ConsoleConfig(StrictModel):
    """The web console at `/`: accounts, sessions and log-in limits."""

    signup: bool = Field(
        default=True,
        description="Anyone may create an account at /signup (on the default plan, with its starting "
        "credits); false for invite-only servers, whose users come from `pixelray users create`.",
    )
    session_hours: float = Field(
        default=24 * 7, gt=0, le=24 * 90, description="How long a console log-in lasts, in hours."
    )
    login_failures_per_account: int = Field(
        default=5,
        ge=1,
        description="Bad passwords for one account in any 60 s; the next log-in to it is refused until "
        "the minute has passed.",
    )
    login_failures_per_address: int = Field(
        default=20, ge=1, description="Bad passwords from one client address in any 60 s, over all accounts."
    )
