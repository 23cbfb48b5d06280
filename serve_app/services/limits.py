"""Plan limits on shared state: every check reads the database inside the admitting transaction,
so they hold across any number of ingress replicas."""

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, delete, func, insert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql.base import Executable
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.config import PlanConfig
from serve_app.db.models import InflightGeneration, RateEvent, UsageCounter
from serve_app.db.session import core
from serve_app.errors import RateLimited
from serve_app.services.clock import day_key, month_key, seconds_to_next_day, seconds_to_next_month

WINDOW = timedelta(seconds=60)


@dataclass(frozen=True)
class RateLimitStatus:
    """The per-minute window as the IETF RateLimit header fields (draft 7) describe it."""

    limit: int | None
    remaining: int
    reset_s: int

    def headers(self) -> dict[str, str]:
        if self.limit is None:
            return {}
        return {
            "RateLimit-Policy": f"{self.limit};w={int(WINDOW.total_seconds())}",
            "RateLimit": f"limit={self.limit}, remaining={self.remaining}, reset={self.reset_s}",
        }


async def minute_window(session: AsyncSession, *, user_id: int, plan: PlanConfig, now: datetime) -> RateLimitStatus:
    """Requests admitted in the sliding 60 s before `now`."""
    if plan.requests_per_minute is None:
        return RateLimitStatus(limit=None, remaining=0, reset_s=0)
    count, oldest = (
        await session.exec(
            select(func.count(col(RateEvent.id)), func.min(RateEvent.at)).where(
                col(RateEvent.user_id) == user_id, col(RateEvent.at) > now - WINDOW
            )
        )
    ).one()
    reset = 0 if oldest is None else math.ceil((_aware(oldest) + WINDOW - now).total_seconds())
    return RateLimitStatus(
        limit=plan.requests_per_minute, remaining=max(0, plan.requests_per_minute - count), reset_s=max(0, reset)
    )


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything here is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PeriodCount:
    requests: int = 0
    images: int = 0


async def counters(session: AsyncSession, *, user_id: int, now: datetime) -> tuple[PeriodCount, PeriodCount]:
    """Today's and this month's counts. Plain values, not ORM rows: inside a group commit an
    identity-mapped row would hide what an earlier admission of the same group just counted."""
    keys = (day_key(now), month_key(now))
    rows = {
        period: PeriodCount(requests=requests, images=images)
        for period, requests, images in await session.execute(
            select(UsageCounter.period, UsageCounter.requests, UsageCounter.images).where(
                col(UsageCounter.user_id) == user_id, col(UsageCounter.period).in_(keys)
            )
        )
    }
    return rows.get(keys[0], PeriodCount()), rows.get(keys[1], PeriodCount())


def plan_has_quota(plan: PlanConfig) -> bool:
    return any(
        limit is not None
        for limit in (plan.requests_per_day, plan.requests_per_month, plan.images_per_day, plan.images_per_month)
    )


async def check_and_count(
    session: AsyncSession,
    *,
    user_id: int,
    plan: PlanConfig,
    images: int,
    now: datetime,
    request_id: str,
    slot_expires_at: datetime,
) -> RateLimitStatus:
    """Raises RateLimited when admitting one request of `images` would break a limit; otherwise
    records it in the counters, and in the window and the in-flight set when the plan limits
    those. Call with the user row locked. Core statements only, and none a plan does not need:
    this runs for every admission."""
    status = await minute_window(session, user_id=user_id, plan=plan, now=now)
    if status.limit is not None and status.remaining <= 0:
        raise RateLimited(
            f"rate limit of {status.limit} requests per minute reached",
            retry_after=status.reset_s,
            headers=status.headers(),
        )
    if plan_has_quota(plan):
        today, month = await counters(session, user_id=user_id, now=now)
        _check_quota(plan.requests_per_day, today.requests + 1, "requests per day", seconds_to_next_day(now))
        _check_quota(plan.requests_per_month, month.requests + 1, "requests per month", seconds_to_next_month(now))
        _check_quota(plan.images_per_day, today.images + images, "images per day", seconds_to_next_day(now))
        _check_quota(plan.images_per_month, month.images + images, "images per month", seconds_to_next_month(now))
    if plan.max_concurrent is not None:
        running = (
            await session.execute(
                select(func.count())
                .select_from(InflightGeneration)
                .where(col(InflightGeneration.user_id) == user_id, col(InflightGeneration.expires_at) > now)
            )
        ).scalar_one()
        if running >= plan.max_concurrent:
            raise RateLimited(
                f"{plan.max_concurrent} generations are already running; wait for one to finish",
                retry_after=1,
                code="concurrency_limited",
            )
        # Expired in-flight rows are dead weight; drop this user's as we go.
        await session.execute(
            delete(InflightGeneration).where(
                col(InflightGeneration.user_id) == user_id, col(InflightGeneration.expires_at) <= now
            )
        )
        await session.execute(
            insert(InflightGeneration).values(request_id=request_id, user_id=user_id, expires_at=slot_expires_at)
        )
    await _count(session, user_id=user_id, now=now, images=images)
    if status.limit is None:
        return status
    await session.execute(insert(RateEvent).values(user_id=user_id, at=now))
    await session.execute(delete(RateEvent).where(col(RateEvent.user_id) == user_id, col(RateEvent.at) <= now - WINDOW))
    return RateLimitStatus(
        limit=status.limit, remaining=status.remaining - 1, reset_s=status.reset_s or int(WINDOW.total_seconds())
    )


async def _count(session: AsyncSession, *, user_id: int, now: datetime, images: int) -> None:
    """Adds one request of `images` to the day's and the month's counters, creating them, in one statement."""
    statement = _count_statement(session.get_bind().dialect.name)
    values = {"counted_user": user_id, "day": day_key(now), "month": month_key(now), "images": images}
    await core(session, statement, values)


_COUNT_STATEMENTS: dict[str, Executable] = {}


def _count_statement(dialect: str) -> Executable:
    """The counters' upsert in `dialect`, built once and run with each request's values (see `core`)."""
    statement = _COUNT_STATEMENTS.get(dialect)
    if statement is None:
        upsert = (sqlite_insert if dialect == "sqlite" else postgresql_insert)(UsageCounter).values(
            [
                {
                    "user_id": bindparam("counted_user"),
                    "period": bindparam(period),
                    "requests": 1,
                    "images": bindparam("images"),
                }
                for period in ("day", "month")
            ]
        )
        statement = _COUNT_STATEMENTS[dialect] = upsert.on_conflict_do_update(
            index_elements=[col(UsageCounter.user_id), col(UsageCounter.period)],
            set_={
                "requests": UsageCounter.requests + upsert.excluded.requests,
                "images": UsageCounter.images + upsert.excluded.images,
            },
        )
    return statement


def _check_quota(limit: int | None, wanted: int, what: str, retry_after: int) -> None:
    if limit is not None and wanted > limit:
        raise RateLimited(f"quota of {limit} {what} reached", retry_after=retry_after, code="quota_exceeded")
