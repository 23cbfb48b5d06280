"""Idempotency keys, with Stripe's semantics: the same key from the same user with the same request
replays the first response and is charged once; with a different request it is refused (422);
while the first request still runs it is refused (409), and a retry gets the response once ready.

Only successful responses are kept. An error was never charged (every failure is refunded), so
it releases the key and a retry with the same key runs afresh. Keys live `ttl` after first use;
the reaper purges expired ones. A running request holds its key by a short lease that it renews,
so a key whose ingress died is free again a lease later instead of answering 409 for good.
"""

import asyncio
import hashlib
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from serve_app.db.models import IdempotencyKey
from serve_app.db.session import Database, rows_affected, undone_if_cancelled
from serve_app.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from serve_app.services.clock import Clock

logger = logging.getLogger("ray.serve")


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class KeyClaim:
    """The right to run the request of (user, key); `claim` fences a holder whose lease lapsed."""

    user_id: int
    key: str
    claim: str


def fingerprint(endpoint: str, body: Any) -> str:
    """The request's identity: its endpoint and its validated body, key order ignored."""
    canonical = json.dumps({"endpoint": endpoint, "body": body}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyKeys:
    def __init__(self, *, db: Database, clock: Clock, ttl_s: float, lease_s: float):
        self._db = db
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._lease = timedelta(seconds=lease_s)

    async def once(
        self, *, user_id: int, key: str, fingerprint: str, run: Callable[[], Awaitable[StoredResponse]]
    ) -> tuple[StoredResponse, bool]:
        """(response, replayed): the stored response of an earlier request with this key, or
        `run`'s, stored when it succeeds. Raises IdempotencyKeyReused or IdempotencyKeyInUse."""
        claimed = await undone_if_cancelled(
            self.claim(user_id=user_id, key=key, fingerprint=fingerprint), self._release_any
        )
        if isinstance(claimed, StoredResponse):
            return claimed, True
        heartbeat = asyncio.create_task(self._hold(claimed))
        try:
            response = await run()
        except BaseException:
            heartbeat.cancel()
            # Shielded: a client that hung up cancels this task, and the key must still be freed.
            await asyncio.shield(self.release(claimed))
            raise
        heartbeat.cancel()
        if 200 <= response.status_code < 300:
            await asyncio.shield(self.complete(claimed, response))
        else:
            await asyncio.shield(self.release(claimed))
        return response, False

    async def claim(self, *, user_id: int, key: str, fingerprint: str) -> KeyClaim | StoredResponse:
        """Takes the key for a new run, or returns the response it already holds."""
        for attempt in range(2):
            try:
                return await self._claim(user_id=user_id, key=key, fingerprint=fingerprint)
            except IntegrityError:
                # PostgreSQL: a concurrent first use inserted the key; the retry sees its row.
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _claim(self, *, user_id: int, key: str, fingerprint: str) -> KeyClaim | StoredResponse:
        now = self._clock.now()
        claim = KeyClaim(user_id=user_id, key=key, claim=secrets.token_hex(16))
        async with self._db.write() as session:
            query = select(IdempotencyKey).where(col(IdempotencyKey.user_id) == user_id, col(IdempotencyKey.key) == key)
            row = (await session.exec(query.with_for_update())).first()
            if row is not None and row.expires_at > now:
                if row.fingerprint != fingerprint:
                    raise IdempotencyKeyReused()
                if row.status == "completed":
                    # A key is marked completed together with the response it stores.
                    assert row.response_status is not None and row.response_body is not None
                    assert row.content_type is not None
                    return StoredResponse(
                        status_code=row.response_status, body=row.response_body, content_type=row.content_type
                    )
                if row.locked_until > now:
                    raise IdempotencyKeyInUse(retry_after=1)
            if row is None:
                row = IdempotencyKey(
                    user_id=user_id,
                    key=key,
                    fingerprint=fingerprint,
                    expires_at=now + self._ttl,
                    status="running",
                    claim=claim.claim,
                    locked_until=now + self._lease,
                )
                session.add(row)
                await session.flush()
                return claim
            # Expired, or its holder's lease lapsed (its ingress died): the key starts over.
            if row.expires_at <= now:
                row.fingerprint, row.created_at, row.expires_at = fingerprint, now, now + self._ttl
            row.status, row.claim, row.locked_until = "running", claim.claim, now + self._lease
            row.response_status = row.response_body = row.content_type = None
            session.add(row)
        return claim

    async def complete(self, claim: KeyClaim, response: StoredResponse) -> None:
        async with self._db.write() as session:
            await session.execute(
                update(IdempotencyKey)
                .where(*self._held(claim))
                .values(
                    status="completed",
                    response_status=response.status_code,
                    response_body=response.body,
                    content_type=response.content_type,
                )
            )

    async def _release_any(self, claimed: KeyClaim | StoredResponse) -> None:
        if isinstance(claimed, KeyClaim):
            await self.release(claimed)

    async def release(self, claim: KeyClaim) -> None:
        async with self._db.write() as session:
            await session.execute(delete(IdempotencyKey).where(*self._held(claim)))

    async def purge_expired(self) -> int:
        """Deletes keys past their time to live; returns how many."""
        async with self._db.write() as session:
            result = await session.execute(
                delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= self._clock.now())
            )
        return rows_affected(result)

    async def _hold(self, claim: KeyClaim) -> None:
        while True:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            try:
                async with self._db.write() as session:
                    await session.execute(
                        update(IdempotencyKey)
                        .where(*self._held(claim), col(IdempotencyKey.status) == "running")
                        .values(locked_until=self._clock.now() + self._lease)
                    )
            except Exception:
                # The next beat tries again; a lapsed lease only lets a retry take the key over.
                logger.warning("could not renew idempotency key %r", claim.key, exc_info=True)

    @staticmethod
    def _held(claim: KeyClaim) -> tuple[ColumnElement[bool], ...]:
        return (
            col(IdempotencyKey.user_id) == claim.user_id,
            col(IdempotencyKey.key) == claim.key,
            col(IdempotencyKey.claim) == claim.claim,
        )
