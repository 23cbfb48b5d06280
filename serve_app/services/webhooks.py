"""Job webhooks as the API offers them: the signing secret, checking a webhook URL at submit
time, the batch form's event, and the delivery log. Signing follows Standard Webhooks."""

import base64
import hashlib
import hmac
import secrets
from typing import Any

from sqlalchemy import func
from sqlmodel import col, select

from serve_app.db.models import User, WebhookDelivery, WebhookSecret
from serve_app.db.session import Database
from serve_app.errors import InvalidRequest
from serve_app.jobs import deliveries
from serve_app.schemas.generate import BatchData
from serve_app.schemas.webhooks import DeliveryList, DeliveryPublic, WebhookSecretCreated
from serve_app.services import egress
from serve_app.services.clock import Clock

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value: `v1,` + base64 HMAC-SHA256 of `id.timestamp.body` under
    the base64-decoded secret."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode()


def signed_headers(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, msg_id=msg_id, timestamp=timestamp, body=body),
    }


class WebhookService:
    def __init__(self, *, db: Database, scraper: Any, clock: Clock):
        self._db = db
        self._scraper = scraper
        self._clock = clock

    async def rotate_secret(self, *, user: User) -> WebhookSecretCreated:
        """Creates the user's signing secret, or replaces it: later tries are signed with the new one."""
        assert user.id is not None  # the signed-in user, read from the database
        secret = new_secret()
        async with self._db.write() as session:
            row = await session.get(WebhookSecret, user.id, with_for_update=True)
            if row is None:
                row = WebhookSecret(user_id=user.id, secret=secret, created_at=self._clock.now())
            else:
                row.secret, row.created_at = secret, self._clock.now()
            session.add(row)
        return WebhookSecretCreated(secret=secret, created_at=row.created_at)

    async def check_url(self, *, user: User, url: str) -> None:
        """Raises InvalidRequest(field="webhook_url") unless events could be signed and sent to
        `url`: the user has a secret and the scraper's egress rules allow the address."""
        assert user.id is not None  # the signed-in user, read from the database
        if await deliveries.secret_of(db=self._db, user_id=user.id) is None:
            raise InvalidRequest(
                field="webhook_url",
                message="create your signing secret first: POST /api/v1/webhooks/secret (it is shown once)",
            )
        await egress.check_url(self._scraper, url, field="webhook_url", method="check_webhook_url")

    async def batch_finished(self, *, user: User, url: str, request_id: str, data: BatchData) -> None:
        """Queues the batch form's event: `job.completed` when every item succeeded, else
        `job.failed`. Inline `data:` images are left out; stored images are sent as URLs."""
        assert user.id is not None  # the signed-in user, read from the database
        results = [
            {
                "index": index,
                "success": item.success,
                "images": [i.image for i in item.images or [] if not i.image.startswith("data:")],
                "error": item.error.model_dump(exclude_none=True) if item.error else None,
            }
            for index, item in enumerate(data.results)
        ]
        event = deliveries.COMPLETED if all(item.success for item in data.results) else deliveries.FAILED
        async with self._db.write() as session:
            deliveries.enqueue(
                session,
                user_id=user.id,
                job_id=request_id,
                url=url,
                event=event,
                data={"request_id": request_id, "kind": "batch", "results": results},
                now=self._clock.now(),
            )

    async def deliveries(self, *, user: User, job_id: str | None, limit: int, offset: int) -> DeliveryList:
        condition = WebhookDelivery.user_id == user.id
        if job_id:
            condition = condition & (WebhookDelivery.job_id == job_id)
        async with self._db.read() as session:
            total = (await session.exec(select(func.count()).select_from(WebhookDelivery).where(condition))).one()
            rows = await session.exec(
                select(WebhookDelivery)
                .where(condition)
                .order_by(col(WebhookDelivery.created_at).desc(), col(WebhookDelivery.id))
                .offset(offset)
                .limit(limit)
            )
            items = [DeliveryPublic.of(row) for row in rows]
        return DeliveryList(deliveries=items, total=total, limit=limit, offset=offset)
