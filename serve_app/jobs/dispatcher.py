"""Sends due webhook deliveries from the jobs worker: signs each try and POSTs it through the
scraper, whose egress rules keep every private address out of reach."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from deployments.protocol import FetchError
from serve_app.config import WebhookConfig
from serve_app.db.models import WebhookDelivery
from serve_app.db.session import Database
from serve_app.jobs import deliveries
from serve_app.services.clock import Clock
from serve_app.services.models import unwrap
from serve_app.services.webhooks import signed_headers

logger = logging.getLogger("ray.serve")

# The receiver's address can never be reached: retrying would only repeat the refusal.
_PERMANENT = frozenset({"blocked_address", "scheme_not_allowed", "port_not_allowed", "invalid_url"})


@dataclass
class WebhookDispatcher:
    db: Database
    scraper: Any
    clock: Clock
    policy: WebhookConfig
    owner: str

    @property
    def lease(self) -> timedelta:
        # Longer than one try can take, so a live sender never loses its delivery to another.
        return timedelta(seconds=self.policy.timeout_s + 30)

    async def send_due(self) -> int:
        """Claims and sends the deliveries that are due now; returns how many were tried."""
        due = await deliveries.claim_due(
            db=self.db,
            owner=self.owner,
            lease=self.lease,
            now=self.clock.now(),
            limit=self.policy.concurrency,
            max_attempts=self.policy.max_attempts,
        )
        await asyncio.gather(*(self._send(delivery) for delivery in due))
        return len(due)

    async def _send(self, delivery: WebhookDelivery) -> None:
        status_code, error, retryable = None, None, True
        try:
            secret = await deliveries.secret_of(db=self.db, user_id=delivery.user_id)
            if secret is None:
                # Recorded as a failed try, retried later, as an unsigned send failed before.
                raise LookupError("the user has no webhook signing secret")
            body = delivery.payload.encode()
            # Signed at each try: the timestamp is the send time, which receivers check for replays.
            headers = signed_headers(secret, msg_id=delivery.id, timestamp=int(self.clock.now().timestamp()), body=body)
            status_code = await self.scraper.deliver_webhook.remote(delivery.url, body, headers, self.policy.timeout_s)
            if not 200 <= status_code < 300:
                error = f"the receiver answered HTTP {status_code}"
        except Exception as exc:
            cause = unwrap(exc)
            if isinstance(cause, FetchError):
                error, retryable = cause.message, cause.reason not in _PERMANENT
            else:
                error = f"could not send: {type(cause).__name__}: {cause}"
        status = await asyncio.shield(
            deliveries.record_try(
                db=self.db,
                delivery_id=delivery.id,
                owner=self.owner,
                now=self.clock.now(),
                policy=self.policy,
                status_code=status_code,
                error=error,
                retryable=retryable,
            )
        )
        logger.info(
            "webhook %s try %d to %s: %s (%s)", delivery.id, delivery.attempts, delivery.url, status, error or "ok"
        )
