"""Wire models of job webhooks: the signing secret and the delivery log."""

import json
from datetime import datetime

from pydantic import BaseModel, Field

from serve_app.db.models import WebhookDelivery

WEBHOOK_URL_DESCRIPTION = (
    "Where to POST `job.completed` / `job.failed` when this finishes, signed with your secret "
    "(Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`). http(s), public host; "
    "create the secret first with POST /api/v1/webhooks/secret."
)


def check_webhook_url(value: str | None) -> str | None:
    """The part of the rule a schema can check; the address is checked by the scraper's egress rules."""
    if value is None:
        return None
    value = value.strip()
    if not value.lower().startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


class WebhookSecretCreated(BaseModel):
    secret: str = Field(description="`whsec_` + base64 key. Shown only now: store it to verify signatures.")
    created_at: datetime


class DeliveryPublic(BaseModel):
    id: str = Field(description="The `webhook-id` header: the same on every try, for deduplication.")
    job_id: str | None = Field(description="The hero job id, or the batch request's request_id.")
    event: str = Field(description="job.completed or job.failed.")
    url: str
    status: str = Field(description="pending (trying, or waiting to retry), delivered or failed (gave up).")
    attempts: int
    next_attempt_at: datetime | None = Field(description="When the next try is due, while pending.")
    last_status_code: int | None = Field(description="The receiver's HTTP status on the last try.")
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict = Field(description="The JSON body sent.")

    @classmethod
    def of(cls, row: WebhookDelivery) -> "DeliveryPublic":
        return cls(
            id=row.id,
            job_id=row.job_id,
            event=row.event,
            url=row.url,
            status=row.status,
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            created_at=row.created_at,
            delivered_at=row.delivered_at,
            payload=json.loads(row.payload),
        )


class DeliveryList(BaseModel):
    deliveries: list[DeliveryPublic]
    total: int
    limit: int
    offset: int
