"""What a user has used and has left."""

from serve_app.config import PlanConfig
from serve_app.db.models import User
from serve_app.db.session import Database
from serve_app.schemas.account import PeriodUsage, PlanUsage, UsageData, UsagePeriods
from serve_app.services.clock import Clock
from serve_app.services.limits import counters


def _remaining(limit: int | None, used: int) -> int | None:
    return None if limit is None else max(0, limit - used)


async def usage_of(*, db: Database, user: User, plan: PlanConfig, clock: Clock) -> UsageData:
    async with db.read() as session:
        assert user.id is not None  # the signed-in user, read from the database
        today, month = await counters(session, user_id=user.id, now=clock.now())
    return UsageData(
        usage=UsagePeriods(
            today=PeriodUsage(request_count=today.requests, image_count=today.images),
            this_month=PeriodUsage(request_count=month.requests, image_count=month.images),
        ),
        plan=PlanUsage(
            name=plan.name,
            slug=plan.slug,
            requests_per_month=plan.requests_per_month,
            requests_per_day=plan.requests_per_day,
            remaining_today=_remaining(plan.requests_per_day, today.requests),
            remaining_month=_remaining(plan.requests_per_month, month.requests),
        ),
    )
