"""A user's recent activity for the console: images and credits per day, and the ledger by page."""

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import col, select

from serve_app.db.models import CreditEntry, UsageRecord
from serve_app.db.session import Database
from serve_app.services.clock import Clock

# Debits and their refunds: what generations cost, net. Grants are not spending.
_SPENDING = ("debit", "refund")


@dataclass(frozen=True)
class DayActivity:
    day: date
    images: int
    credits: int


@dataclass(frozen=True)
class LedgerPage:
    entries: list[CreditEntry]
    total: int


def _utc_day(db: Database, column):
    """The UTC calendar day of a timestamp column, computed by the database."""
    # PostgreSQL would cast a timestamptz to the session's time zone, not necessarily UTC.
    return func.date(column) if db.is_sqlite else func.date(func.timezone("UTC", column))


def _day(value) -> date:
    # SQLite's date() answers text, PostgreSQL's a date.
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def daily_activity(*, db: Database, user_id: int, clock: Clock, days: int = 30) -> list[DayActivity]:
    """One entry per UTC day of the last `days` (today included), oldest first: images of
    generations that succeeded, and credits spent net of refunds."""
    today = clock.now().date()
    first = today - timedelta(days=days - 1)
    since = clock.now().replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=days - 1)
    async with db.read() as session:
        image_day = _utc_day(db, UsageRecord.created_at)
        image_rows = await session.exec(
            select(image_day, func.sum(UsageRecord.images))
            .where(UsageRecord.user_id == user_id, UsageRecord.status == "succeeded", UsageRecord.created_at >= since)
            .group_by(image_day)
        )
        images = {_day(day): int(count or 0) for day, count in image_rows}
        credit_day = _utc_day(db, CreditEntry.created_at)
        credit_rows = await session.exec(
            select(credit_day, func.sum(CreditEntry.amount))
            .where(
                CreditEntry.user_id == user_id, col(CreditEntry.kind).in_(_SPENDING), CreditEntry.created_at >= since
            )
            .group_by(credit_day)
        )
        spent = {_day(day): -int(amount or 0) for day, amount in credit_rows}
    return [
        DayActivity(day=day, images=images.get(day, 0), credits=spent.get(day, 0))
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


async def ledger_page(*, db: Database, user_id: int, limit: int, offset: int) -> LedgerPage:
    """The user's credit ledger, newest first."""
    async with db.read() as session:
        total = (
            await session.exec(select(func.count()).select_from(CreditEntry).where(CreditEntry.user_id == user_id))
        ).one()
        rows = await session.exec(
            select(CreditEntry)
            .where(CreditEntry.user_id == user_id)
            .order_by(col(CreditEntry.id).desc())
            .limit(limit)
            .offset(offset)
        )
        return LedgerPage(entries=list(rows), total=total)
