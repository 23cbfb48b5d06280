"""Admission and settlement of billable requests: plan checks, limits and credits in one
transaction before any work, then success or an exactly-once refund after it."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, update
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app import metrics
from serve_app.config import AppConfig, PlanConfig
from serve_app.db.models import InflightGeneration, UsageCounter, UsageRecord, User
from serve_app.db.session import Database
from serve_app.errors import Forbidden, InsufficientCredits, InvalidRequest, Unauthorized
from serve_app.services import credits
from serve_app.services.clock import Clock, day_key, month_key
from serve_app.services.limits import RateLimitStatus, check_and_count, minute_window

@dataclass(frozen=True)
class Admission:
    """A request that passed every check and paid; it must end in `succeed` or `fail`."""

    request_id: str
    user_id: int
    cost: int
    images: int
    periods: tuple[str, str]
    rate_limit: RateLimitStatus | None = None
    model: str = ""


class Accounting:
    def __init__(self, *, db: Database, config: AppConfig, clock: Clock):
        self._db = db
        self._config = config
        self._clock = clock
        # A crashed replica never releases its slots; they lapse after the longest possible run.
        self._inflight_ttl = timedelta(seconds=config.generation_timeout_s + 60)

    def plan_of(self, user: User) -> PlanConfig:
        """The user's plan; Forbidden when suspended or without API access."""
        if user.suspended:
            raise Forbidden("this account is suspended; contact the operator")
        plan = self._config.plan(user.plan)
        if plan is None or not plan.api_access:
            raise Forbidden(f"the plan {user.plan!r} has no API access")
        return plan

    async def admit(self, *, user: User, request_id: str, model: str, images: int, cost: int) -> Admission:
        """Checks plan, limits and credits and debits `cost`, atomically. Raises Forbidden,
        InvalidRequest, RateLimited or InsufficientCredits, having changed nothing."""
        now = self._clock.now()
        async with self._db.write() as session:
            # Locking the user row serializes one user's admissions on PostgreSQL, so the
            # counts read below cannot go stale; SQLite's BEGIN IMMEDIATE already serializes.
            locked = (await session.exec(select(User).where(User.id == user.id).with_for_update())).first()
            if locked is None:
                raise Unauthorized("this API key's user no longer exists")
            plan = self.plan_of(locked)
            if images > plan.max_images_per_request:
                raise InvalidRequest(
                    field="count", message=f"the {plan.name} plan allows at most {plan.max_images_per_request} images per request"
                )
            status = await check_and_count(
                session, user_id=user.id, plan=plan, images=images, now=now,
                request_id=request_id, inflight_ttl=self._inflight_ttl,
            )
            if await credits.try_debit(session, user_id=user.id, cost=cost, request_id=request_id) is None:
                raise InsufficientCredits(balance=locked.balance, cost=cost)
            session.add(UsageRecord(request_id=request_id, user_id=user.id, model=model, images=images, credits=cost))
        metrics.record_debit(model=model, credits=cost)
        return Admission(
            request_id=request_id,
            user_id=user.id,
            cost=cost,
            images=images,
            periods=(day_key(now), month_key(now)),
            rate_limit=status,
            model=model,
        )

    async def succeed(self, admission: Admission, *, session: AsyncSession | None = None) -> None:
        """Marks the request done and frees its slot; pass `session` to join the caller's transaction."""
        async with self._session(session) as active:
            await self._settle(active, admission, status="succeeded", error=None)

    async def fail(self, admission: Admission, *, error: str, session: AsyncSession | None = None) -> None:
        """Refunds a still-pending request exactly once, uncounts its images and frees its slot.
        A request already settled (succeeded, or failed before) is left alone."""
        async with self._session(session) as active:
            if not await self._settle(active, admission, status="failed", error=error[:500]):
                return
            refunded = await credits.refund(active, request_id=admission.request_id)
            if refunded:
                for period in admission.periods:
                    await active.execute(
                        update(UsageCounter)
                        .where(UsageCounter.user_id == admission.user_id, UsageCounter.period == period)
                        .values(images=UsageCounter.images - admission.images)
                    )
        metrics.record_refund(model=admission.model, credits=refunded)

    @asynccontextmanager
    async def _session(self, session: AsyncSession | None) -> AsyncIterator[AsyncSession]:
        if session is not None:
            yield session
            return
        async with self._db.write() as own:
            yield own

    async def admission_of(self, request_id: str, *, session: AsyncSession) -> Admission | None:
        """The admission behind a request, rebuilt from its usage record (for background jobs)."""
        record = await session.get(UsageRecord, request_id)
        if record is None:
            return None
        started = record.created_at
        return Admission(
            request_id=request_id,
            user_id=record.user_id,
            cost=record.credits,
            images=record.images,
            periods=(day_key(started), month_key(started)),
            model=record.model,
        )

    async def _settle(self, session: AsyncSession, admission: Admission, *, status: str, error: str | None) -> bool:
        """Moves the usage record out of `pending`; False when another settlement got there first."""
        moved = await session.execute(
            update(UsageRecord)
            .where(UsageRecord.request_id == admission.request_id, UsageRecord.status == "pending")
            .values(status=status, error=error, finished_at=self._clock.now())
        )
        await session.execute(delete(InflightGeneration).where(InflightGeneration.request_id == admission.request_id))
        return moved.rowcount == 1

    async def rate_limit_status(self, user: User) -> RateLimitStatus:
        plan = self.plan_of(user)
        async with self._db.read() as session:
            return await minute_window(session, user_id=user.id, plan=plan, now=self._clock.now())
