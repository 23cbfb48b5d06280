"""The credit ledger. The balance on the user row moves only together with a ledger row, in the
same transaction, so it always equals the ledger sum."""

from datetime import datetime

from sqlalchemy import bindparam, func, insert, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.db.models import CreditEntry, User
from serve_app.db.session import Database, core
from serve_app.errors import InvalidRequest, NotFound


async def grant(*, db: Database, user_id: int, amount: int, note: str = "") -> int:
    """Adds `amount` credits; returns the new balance."""
    if amount <= 0:
        raise InvalidRequest(field="amount", message="grant a positive number of credits")
    async with db.write() as session:
        balance = (
            await session.execute(
                update(User)
                .where(col(User.id) == user_id)
                .values(balance=User.balance + amount)
                .returning(col(User.balance))
            )
        ).scalar_one_or_none()
        if balance is None:
            raise NotFound(f"no user with id {user_id}")
        session.add(CreditEntry(user_id=user_id, kind="grant", amount=amount, note=note))
    return balance


# Built once and run with each request's values (see `core`).
_DEBIT = (
    update(User)
    .where(col(User.id) == bindparam("debited_user"), col(User.balance) >= bindparam("cost"))
    .values(balance=User.balance - bindparam("cost"))
    .returning(col(User.balance))
)
_NEW_ENTRY = insert(CreditEntry)


async def try_debit(session: AsyncSession, *, user_id: int, cost: int, request_id: str, now: datetime) -> int | None:
    """Inside the caller's transaction: takes `cost` credits if the balance covers them, in one
    conditional UPDATE, and writes its ledger row. Returns the new balance, or None when the
    balance is short (or the user is gone)."""
    balance = (await core(session, _DEBIT, {"debited_user": user_id, "cost": cost})).scalar_one_or_none()
    if balance is not None:
        entry = {
            "user_id": user_id,
            "kind": "debit",
            "amount": -cost,
            "request_id": request_id,
            "note": "",
            "created_at": now,
        }
        await core(session, _NEW_ENTRY, entry)
    return balance


async def current_balance(session: AsyncSession, *, user_id: int) -> int | None:
    """Inside the caller's transaction; None when there is no such user."""
    return (await session.execute(select(User.balance).where(col(User.id) == user_id))).scalar_one_or_none()


async def refund(session: AsyncSession, *, request_id: str, amount: int | None = None) -> int:
    """Inside the caller's transaction: returns a request's debit, or `amount` of it (no more than
    the debit), at most once. Returns the credits refunded (0 when there was no debit or it was
    already refunded)."""
    debit = (
        await session.exec(
            select(CreditEntry).where(col(CreditEntry.request_id) == request_id, col(CreditEntry.kind) == "debit")
        )
    ).first()
    if debit is None:
        return 0
    already = (
        await session.exec(
            select(CreditEntry.id).where(col(CreditEntry.request_id) == request_id, col(CreditEntry.kind) == "refund")
        )
    ).first()
    if already is not None:
        return 0
    amount = -debit.amount if amount is None else min(amount, -debit.amount)
    try:
        # The unique (request_id, kind) index is the last word if two refunds race on PostgreSQL.
        async with session.begin_nested():
            session.add(CreditEntry(user_id=debit.user_id, kind="refund", amount=amount, request_id=request_id))
    except IntegrityError:
        return 0
    await session.execute(update(User).where(col(User.id) == debit.user_id).values(balance=User.balance + amount))
    return amount


async def balance(*, db: Database, user_id: int) -> int:
    async with db.read() as session:
        value = (await session.exec(select(User.balance).where(col(User.id) == user_id))).first()
    if value is None:
        raise NotFound(f"no user with id {user_id}")
    return value


async def ledger_sum(*, db: Database, user_id: int) -> int:
    async with db.read() as session:
        total = (
            await session.exec(
                select(func.coalesce(func.sum(CreditEntry.amount), 0)).where(col(CreditEntry.user_id) == user_id)
            )
        ).one()
    return int(total)


async def history(*, db: Database, user_id: int, limit: int = 100) -> list[CreditEntry]:
    """Newest first."""
    async with db.read() as session:
        rows = await session.exec(
            select(CreditEntry)
            .where(col(CreditEntry.user_id) == user_id)
            .order_by(col(CreditEntry.id).desc())
            .limit(limit)
        )
        return list(rows)
