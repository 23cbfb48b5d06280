"""Time as the services see it: UTC, and injectable so tests can cross midnight on purpose."""

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


def day_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def month_key(moment: datetime) -> str:
    return moment.strftime("%Y-%m")


def seconds_to_next_day(moment: datetime) -> int:
    midnight = (moment + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return max(1, int((midnight - moment).total_seconds() + 0.999))


def seconds_to_next_month(moment: datetime) -> int:
    first = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        first.replace(year=first.year + 1, month=1) if first.month == 12 else first.replace(month=first.month + 1)
    )
    return max(1, int((following - moment).total_seconds() + 0.999))
