"""Admission and settlement of billable requests: plan checks, limits and credits atomically
before any work, then success or an exactly-once refund after it. Concurrent requests'
admissions and settlements share transactions (group commit, `db/group_commit.py`).

Every admission is keyed by an id the server makes (a client's X-Request-Id is only recorded as
its correlation id) and carries a lease. The ingress that admitted it renews the lease while the
request runs; if that ingress dies, the lease lapses, its concurrency slot frees itself, and the
reaper (on the jobs worker) refunds it. Settlement is a conditional update of the pending record,
so the reaper and a late settlement can never both move it: one refund at most, never a charge back.
"""

import asyncio
import logging
import secrets
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TypeVar

from sqlalchemy import bindparam, delete, insert, update
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app import metrics
from serve_app.config import AppConfig, PlanConfig
from serve_app.db.group_commit import GroupCommit
from serve_app.db.models import InflightGeneration, UsageCounter, UsageRecord, User
from serve_app.db.session import Database, core, rows_affected
from serve_app.errors import Forbidden, InsufficientCredits, InvalidRequest, Unauthorized
from serve_app.services import credits
from serve_app.services.clock import Clock, day_key, month_key
from serve_app.services.limits import RateLimitStatus, check_and_count, minute_window

logger = logging.getLogger("ray.serve")
T = TypeVar("T")
LAPSED = "lease expired: the ingress serving this request was lost; refunded"


# The hot path's statements, built once and run with each request's values (see `core`).
_NEW_RECORD = insert(UsageRecord)
_SETTLE = (
    update(UsageRecord)
    .where(col(UsageRecord.request_id) == bindparam("settled"), col(UsageRecord.status) == "pending")
    .values(status=bindparam("outcome"), error=bindparam("failure"), finished_at=bindparam("at"), lease_expires_at=None)
)
_FREE_SLOT = delete(InflightGeneration).where(col(InflightGeneration.request_id) == bindparam("settled"))


def new_admission_id() -> str:
    return f"adm_{secrets.token_hex(12)}"


@dataclass(frozen=True)
class Admission:
    """A request that passed every check and paid; it must end in `succeed` or `fail`, or be
    handed over to a durable job. `request_id` is the server's ledger key."""

    request_id: str
    user_id: int
    cost: int
    images: int
    periods: tuple[str, str]
    rate_limit: RateLimitStatus | None = None
    model: str = ""
    holds_slot: bool = True
    """Whether it counts against a concurrency limit (an in-flight row to free)."""


class Accounting:
    def __init__(self, *, db: Database, config: AppConfig, clock: Clock):
        self._db = db
        self._config = config
        self._clock = clock
        self._lease = timedelta(seconds=config.ledger.lease_s)
        # A request handed to a durable job keeps its slot for the longest possible run.
        self._job_slot_ttl = timedelta(seconds=config.generation_timeout_s + 60)
        self._live: set[str] = set()
        self._renewer: asyncio.Task | None = None
        self._group = (
            GroupCommit(db, max_units=config.ledger.group_commit_max_ops) if config.ledger.group_commit else None
        )

    def plan_of(self, user: User) -> PlanConfig:
        """The user's plan; Forbidden when suspended or without API access."""
        if user.suspended:
            raise Forbidden("this account is suspended; contact the operator")
        plan = self._config.plan(user.plan)
        if plan is None or not plan.api_access:
            raise Forbidden(f"the plan {user.plan!r} has no API access")
        return plan

    async def admit(self, *, user: User, correlation_id: str, model: str, images: int, cost: int) -> Admission:
        """Checks plan, limits and credits and debits `cost`, atomically. Raises Forbidden,
        InvalidRequest, RateLimited or InsufficientCredits, having changed nothing.

        `user` is the row the request authenticated with (its one user read): plan and
        suspension are judged on it, the balance only by the conditional debit."""
        plan = self.plan_of(user)
        if images > plan.max_images_per_request:
            raise InvalidRequest(
                field="count",
                message=f"the {plan.name} plan allows at most {plan.max_images_per_request} images per request",
            )
        user_id = user.id
        assert user_id is not None  # the authenticated user, read from the database
        now = self._clock.now()
        request_id = new_admission_id()
        lease = now + self._lease

        async def admit_in(session: AsyncSession) -> RateLimitStatus:
            # The debit comes first: on PostgreSQL its UPDATE locks the user's row, which
            # serializes one user's admissions so that the counts read below cannot go stale
            # (SQLite's BEGIN IMMEDIATE serializes every writer already).
            balance = await credits.try_debit(session, user_id=user_id, cost=cost, request_id=request_id, now=now)
            # Limits before credits: a request over a limit is a 429 even when it is also short.
            status = await check_and_count(
                session,
                user_id=user_id,
                plan=plan,
                images=images,
                now=now,
                request_id=request_id,
                slot_expires_at=lease,
            )
            if balance is None:
                current = await credits.current_balance(session, user_id=user_id)
                if current is None:
                    raise Unauthorized("this API key's user no longer exists")
                raise InsufficientCredits(balance=current, cost=cost)
            await core(
                session,
                _NEW_RECORD,
                {
                    "request_id": request_id,
                    "correlation_id": correlation_id[:64],
                    "user_id": user_id,
                    "model": model,
                    "images": images,
                    "credits": cost,
                    "status": "pending",
                    "lease_expires_at": lease,
                    "created_at": now,
                },
            )
            return status

        # A caller cancelled while its admission commits is never told of it: the admission
        # is not held, so its lease lapses and the reaper refunds it.
        status = await self._commit(admit_in, user_id=user_id)
        self._hold(request_id)
        metrics.record_debit(model=model, credits=cost)
        return Admission(
            request_id=request_id,
            user_id=user_id,
            cost=cost,
            images=images,
            periods=(day_key(now), month_key(now)),
            rate_limit=status,
            model=model,
            holds_slot=plan.max_concurrent is not None,
        )

    async def succeed(
        self,
        admission: Admission,
        *,
        records: Sequence[SQLModel] = (),
        refund: int = 0,
        session: AsyncSession | None = None,
    ) -> bool:
        """Stores `records` (the request's image rows) and marks the request done, freeing its
        slot; pass `session` to join the caller's transaction instead of a group commit.
        `refund` credits (those of images a safety policy withheld) go back in the same
        transaction, as the request's one refund. False when it was settled before: a late
        completion after the reaper refunded it stays refunded (the client gets its images
        free) and is not charged again."""

        async def succeed_in(active: AsyncSession) -> tuple[bool, int]:
            for table, rows in _by_table(records).items():
                await core(active, insert(table), rows)
            if not await self._settle(active, admission, status="succeeded", error=None):
                return False, 0
            refunded = await credits.refund(active, request_id=admission.request_id, amount=refund) if refund else 0
            return True, refunded

        settled, refunded = await (
            succeed_in(session) if session is not None else self._commit(succeed_in, user_id=admission.user_id)
        )
        if not settled:
            logger.warning("request %s completed after it was settled; it stays as it was", admission.request_id)
        if refunded:
            metrics.record_refund(model=admission.model, credits=refunded)
        return settled

    async def fail(self, admission: Admission, *, error: str, session: AsyncSession | None = None) -> None:
        """Refunds a still-pending request exactly once, uncounts its images and frees its slot.
        A request already settled (succeeded, or failed before) is left alone."""

        async def fail_in(active: AsyncSession) -> int:
            if not await self._settle(active, admission, status="failed", error=error[:500]):
                return 0
            refunded = await credits.refund(active, request_id=admission.request_id)
            if refunded:
                for period in admission.periods:
                    await active.execute(
                        update(UsageCounter)
                        .where(col(UsageCounter.user_id) == admission.user_id, col(UsageCounter.period) == period)
                        .values(images=UsageCounter.images - admission.images)
                    )
            return refunded

        refunded = await (fail_in(session) if session is not None else self._commit(fail_in, user_id=admission.user_id))
        metrics.record_refund(model=admission.model, credits=refunded)

    async def _commit(self, work: Callable[[AsyncSession], Awaitable[T]], *, user_id: int) -> T:
        if self._group is not None:
            return await self._group.run(work, order=user_id)
        async with self._db.write() as session:
            return await work(session)

    async def admission_of(self, request_id: str, *, session: AsyncSession) -> Admission | None:
        """The admission behind a request, rebuilt from its usage record (for background jobs)."""
        record = await session.get(UsageRecord, request_id)
        return None if record is None else self._admission_from(record)

    @staticmethod
    def _admission_from(record: UsageRecord) -> Admission:
        started = record.created_at
        return Admission(
            request_id=record.request_id,
            user_id=record.user_id,
            cost=record.credits,
            images=record.images,
            periods=(day_key(started), month_key(started)),
            model=record.model,
        )

    async def _settle(self, session: AsyncSession, admission: Admission, *, status: str, error: str | None) -> bool:
        """Moves the usage record out of `pending`; False when another settlement got there first."""
        self._live.discard(admission.request_id)
        moved = await core(
            session,
            _SETTLE,
            {"settled": admission.request_id, "outcome": status, "failure": error, "at": self._clock.now()},
        )
        if admission.holds_slot:
            await core(session, _FREE_SLOT, {"settled": admission.request_id})
        return rows_affected(moved) == 1

    async def hand_over(self, admission: Admission, *, session: AsyncSession) -> None:
        """Inside the transaction that commits a durable job for the request: the job queue now
        settles it, so its lease stops (the reaper leaves it alone) and its slot lasts a whole run."""
        self._live.discard(admission.request_id)
        await session.execute(
            update(UsageRecord).where(col(UsageRecord.request_id) == admission.request_id).values(lease_expires_at=None)
        )
        await session.execute(
            update(InflightGeneration)
            .where(col(InflightGeneration.request_id) == admission.request_id)
            .values(expires_at=self._clock.now() + self._job_slot_ttl)
        )

    async def reap(self, *, limit: int = 200) -> int:
        """Refunds pending requests whose lease lapsed (their ingress died); returns how many.
        Safe to run on several replicas at once: each refund is conditional on `pending`."""
        now = self._clock.now()
        query = (
            select(UsageRecord)
            .where(col(UsageRecord.status) == "pending", col(UsageRecord.lease_expires_at) < now)
            .order_by(col(UsageRecord.lease_expires_at))
            .limit(limit)
        )
        if not self._db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        async with self._db.write() as session:
            lapsed = list(await session.exec(query))
            for record in lapsed:
                await self.fail(self._admission_from(record), error=LAPSED, session=session)
        if lapsed:
            logger.warning("refunded %d requests whose ingress was lost", len(lapsed))
        return len(lapsed)

    async def renew(self, request_ids: Iterable[str]) -> None:
        """Extends the leases (and slots) of these still-running requests."""
        ids = list(request_ids)
        until = self._clock.now() + self._lease
        async with self._db.write() as session:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                await session.execute(
                    update(UsageRecord)
                    .where(
                        col(UsageRecord.request_id).in_(chunk),
                        col(UsageRecord.status) == "pending",
                        col(UsageRecord.lease_expires_at).is_not(None),
                    )
                    .values(lease_expires_at=until)
                )
                await session.execute(
                    update(InflightGeneration)
                    .where(col(InflightGeneration.request_id).in_(chunk))
                    .values(expires_at=until)
                )

    def _hold(self, request_id: str) -> None:
        self._live.add(request_id)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.get_running_loop().create_task(self._renew_live())

    async def _renew_live(self) -> None:
        """One renewal for all of this process's running requests every third of a lease;
        stops when none is left (the next admission starts it again) or the database is closed."""
        while self._live:
            await asyncio.sleep(self._lease.total_seconds() / 3)
            if self._db.closed:
                return
            try:
                await self.renew(list(self._live))
            except Exception:
                # The next beat tries again; a lease only lapses after three missed beats.
                logger.warning("could not renew %d leases", len(self._live), exc_info=True)

    async def rate_limit_status(self, user: User) -> RateLimitStatus:
        plan = self.plan_of(user)
        if plan.requests_per_minute is None:
            return RateLimitStatus(limit=None, remaining=0, reset_s=0)
        async with self._db.read() as session:
            assert user.id is not None  # the authenticated user, read from the database
            return await minute_window(session, user_id=user.id, plan=plan, now=self._clock.now())


def _by_table(records: Sequence[SQLModel]) -> dict[type[SQLModel], list[dict]]:
    """Rows for Core inserts, one statement per table."""
    tables: dict[type[SQLModel], list[dict]] = defaultdict(list)
    for record in records:
        tables[type(record)].append(record.model_dump())
    return tables
