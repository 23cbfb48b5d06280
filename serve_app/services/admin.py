"""Operator views and actions behind the console's admin pages."""

from dataclasses import dataclass

from sqlalchemy import func, update
from sqlmodel import col, select

from serve_app.config import AppConfig
from serve_app.db.models import Account, UsageRecord, User
from serve_app.db.session import Database, rows_affected
from serve_app.errors import InvalidRequest, NotFound
from serve_app.services.users import key_cache


@dataclass(frozen=True)
class UserRow:
    user: User
    role: str


@dataclass(frozen=True)
class UserPage:
    users: list[UserRow]
    total: int


async def search_users(*, db: Database, q: str, limit: int, offset: int) -> UserPage:
    """Users whose name contains `q` (case-insensitive), by id."""
    condition = func.lower(User.name).contains(q.strip().lower(), autoescape=True) if q.strip() else True
    async with db.read() as session:
        total = (await session.exec(select(func.count()).select_from(User).where(condition))).one()
        rows = await session.exec(
            select(User, Account.role)
            .join(Account, col(Account.user_id) == col(User.id), isouter=True)
            .where(condition)
            .order_by(col(User.id))
            .limit(limit)
            .offset(offset)
        )
        return UserPage(users=[UserRow(user=user, role=role or "user") for user, role in rows], total=total)


async def set_plan(*, db: Database, config: AppConfig, user_id: int, plan: str) -> None:
    if config.plan(plan) is None:
        known = ", ".join(p.slug for p in config.plans)
        raise InvalidRequest(field="plan", message=f"unknown plan {plan!r}; known plans: {known}")
    async with db.write() as session:
        moved = await session.execute(update(User).where(col(User.id) == user_id).values(plan=plan))
    key_cache(db).clear()
    if rows_affected(moved) != 1:
        raise NotFound(f"no user with id {user_id}")


async def running_by_model(*, db: Database) -> dict[str, int]:
    """Generations admitted and not yet settled, per model: what each model is working on or queueing."""
    async with db.read() as session:
        rows = await session.exec(
            select(UsageRecord.model, func.count()).where(UsageRecord.status == "pending").group_by(UsageRecord.model)
        )
        return {model: count for model, count in rows}
