"""The money layer on SQLite and PostgreSQL: atomic debits, exactly-once refunds, limits on
shared state, UTC days with a controlled clock."""

import asyncio
import secrets
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func
from sqlmodel import select

from serve_app.db.models import RateEvent, UsageRecord
from serve_app.db.session import Database
from serve_app.errors import Forbidden, InsufficientCredits, InvalidRequest, RateLimited
from serve_app.services import credits
from serve_app.services.accounting import Accounting
from serve_app.services.users import find_user, set_suspended
from tests.factories import ManualClock, checked_balance, make_config, user_with_key


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 3, 31, 23, 58, 0, tzinfo=UTC))


@pytest.fixture
def accounting(db, clock) -> Accounting:
    return Accounting(db=db, config=make_config(), clock=clock)


def request_id() -> str:
    return f"req_{secrets.token_hex(8)}"


async def admit(accounting: Accounting, db: Database, user_id: int, *, cost: int = 1, images: int = 1):
    user = await find_user(db=db, name_or_id=str(user_id))
    return await accounting.admit(user=user, correlation_id=request_id(), model="tiny-sd", images=images, cost=cost)


async def test_last_credit_is_spent_once_under_50_concurrent_debits_on_separate_connections(db, clock):
    user_id, _ = await user_with_key(db, plan="broke")
    await credits.grant(db=db, user_id=user_id, amount=1)
    # One engine per debit: 50 independent connections racing, as 50 replicas would.
    engines = [Database(db.url) for _ in range(50)]
    try:
        results = await asyncio.gather(
            *(admit(Accounting(db=engine, config=make_config(), clock=clock), engine, user_id) for engine in engines),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    assert sum(not isinstance(r, Exception) for r in results) == 1
    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 49 and all(isinstance(f, InsufficientCredits) for f in failures)
    assert await checked_balance(db, user_id) == 0


async def test_short_credits_are_a_402_with_balance_and_cost_and_change_nothing(db, accounting):
    user_id, _ = await user_with_key(db, plan="broke")
    await credits.grant(db=db, user_id=user_id, amount=2)
    with pytest.raises(InsufficientCredits) as info:
        await admit(accounting, db, user_id, cost=3)
    assert (info.value.balance, info.value.cost, info.value.status_code) == (2, 3, 402)
    assert "costs 3 credits and the balance is 2" in info.value.message
    assert await checked_balance(db, user_id) == 2
    usage = await accounting.rate_limit_status(await find_user(db=db, name_or_id=str(user_id)))
    assert usage.limit is None


async def test_a_failed_request_is_refunded_exactly_once(db, accounting):
    user_id, _ = await user_with_key(db)
    admission = await admit(accounting, db, user_id, cost=5)
    assert await checked_balance(db, user_id) == 995

    await asyncio.gather(*(accounting.fail(admission, error="model exploded") for _ in range(5)))

    assert await checked_balance(db, user_id) == 1000
    kinds = [entry.kind for entry in await credits.history(db=db, user_id=user_id)]
    assert kinds.count("refund") == 1 and kinds.count("debit") == 1
    async with db.read() as session:
        record = (await session.exec(select(UsageRecord).where(UsageRecord.request_id == admission.request_id))).one()
    assert record.status == "failed" and "exploded" in record.error


async def test_a_settled_success_is_never_refunded(db, accounting):
    user_id, _ = await user_with_key(db)
    admission = await admit(accounting, db, user_id, cost=2)
    await accounting.succeed(admission)
    await accounting.fail(admission, error="a late failure report")
    assert await checked_balance(db, user_id) == 998
    async with db.read() as session:
        record = (await session.exec(select(UsageRecord).where(UsageRecord.request_id == admission.request_id))).one()
    assert record.status == "succeeded"


async def test_per_minute_limit_admits_exactly_the_limit_in_a_sliding_window(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="per-minute")
    results = await asyncio.gather(*(admit(accounting, db, user_id) for _ in range(70)), return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, Exception)]
    limited = [r for r in results if isinstance(r, RateLimited)]
    assert (len(admitted), len(limited)) == (60, 10)
    assert all(r.retry_after >= 1 and r.headers["Retry-After"] == str(r.retry_after) for r in limited)
    assert limited[0].headers["RateLimit-Policy"] == "60;w=60"
    assert await checked_balance(db, user_id) == 940

    clock.advance(seconds=30)
    with pytest.raises(RateLimited):
        await admit(accounting, db, user_id)
    clock.advance(seconds=31)
    assert await admit(accounting, db, user_id)


async def test_daily_quota_admits_exactly_n_concurrently_and_resets_at_utc_midnight(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="daily")
    results = await asyncio.gather(*(admit(accounting, db, user_id) for _ in range(12)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 5
    quota_errors = [r for r in results if isinstance(r, RateLimited)]
    assert len(quota_errors) == 7 and all(e.code == "quota_exceeded" for e in quota_errors)
    # 23:58:00 UTC: the quota frees at midnight, 120 s away.
    assert {e.retry_after for e in quota_errors} == {120}

    clock.advance(seconds=119)
    with pytest.raises(RateLimited):
        await admit(accounting, db, user_id)
    clock.advance(seconds=1)
    assert await admit(accounting, db, user_id)
    assert await checked_balance(db, user_id) == 1000 - 6


async def test_concurrency_limit_counts_running_generations(db, clock):
    config = make_config(plans=[{"slug": "two", "name": "Two", "max_concurrent": 2, "initial_credits": 10}])
    accounting = Accounting(db=db, config=config, clock=clock)
    user_id, _ = await user_with_key(db, plan="two", config=config)
    first = await admit(accounting, db, user_id)
    await admit(accounting, db, user_id)
    with pytest.raises(RateLimited) as info:
        await admit(accounting, db, user_id)
    assert info.value.code == "concurrency_limited"
    await accounting.succeed(first)
    assert await admit(accounting, db, user_id)


async def test_a_crashed_generation_frees_its_slot_after_the_lease(db, clock):
    config = make_config(
        plans=[{"slug": "one", "name": "One", "max_concurrent": 1, "initial_credits": 10}], generation_timeout_s=60
    )
    accounting = Accounting(db=db, config=config, clock=clock)
    user_id, _ = await user_with_key(db, plan="one", config=config)
    await admit(accounting, db, user_id)  # never settled: its replica "died"
    with pytest.raises(RateLimited):
        await admit(accounting, db, user_id)
    clock.advance(seconds=121)
    assert await admit(accounting, db, user_id)


async def test_suspended_users_and_plans_without_api_access_are_403(db, accounting):
    user_id, _ = await user_with_key(db)
    await set_suspended(db=db, user_id=user_id, suspended=True)
    with pytest.raises(Forbidden, match="suspended"):
        await admit(accounting, db, user_id)
    no_api_id, _ = await user_with_key(db, plan="no-api")
    with pytest.raises(Forbidden, match="no API access"):
        await admit(accounting, db, no_api_id)


async def test_more_images_than_the_plan_allows_is_a_400_on_count(db, accounting):
    user_id, _ = await user_with_key(db)
    with pytest.raises(InvalidRequest) as info:
        await admit(accounting, db, user_id, images=5)
    assert info.value.field == "count"
    assert await checked_balance(db, user_id) == 1000


async def test_rejections_leave_balance_ledger_and_counters_untouched(db, accounting):
    user_id, _ = await user_with_key(db, plan="daily")
    for _ in range(5):
        await admit(accounting, db, user_id)
    for _ in range(3):
        with pytest.raises(RateLimited):
            await admit(accounting, db, user_id)
    assert await checked_balance(db, user_id) == 995
    assert len(await credits.history(db=db, user_id=user_id)) == 6  # the plan grant and 5 debits


def count_commits(db: Database) -> list[int]:
    commits = [0]

    @event.listens_for(db.engine.sync_engine, "commit")
    def _on_commit(_connection) -> None:
        commits[0] += 1

    return commits


async def test_concurrent_admissions_and_settlements_commit_in_groups(db, accounting):
    user_id, _ = await user_with_key(db)
    commits = count_commits(db)
    admissions = await asyncio.gather(*(admit(accounting, db, user_id) for _ in range(30)))
    await asyncio.gather(
        *(accounting.succeed(a) for a in admissions[:20]), *(accounting.fail(a, error="x") for a in admissions[20:])
    )

    # 30 admissions and 30 settlements, alone, would be 60 transactions.
    assert commits[0] < 30, commits
    assert await checked_balance(db, user_id) == 1000 - 20
    async with db.read() as session:
        statuses = [
            r.status for r in (await session.exec(select(UsageRecord).where(UsageRecord.user_id == user_id))).all()
        ]
    assert sorted(statuses) == ["failed"] * 10 + ["succeeded"] * 20


async def test_a_refused_admission_in_a_group_leaves_the_others_admitted(db, accounting):
    rich_id, _ = await user_with_key(db)
    broke_id, _ = await user_with_key(db, plan="broke")
    results = await asyncio.gather(
        *(admit(accounting, db, user_id, cost=2) for _ in range(10) for user_id in (rich_id, broke_id)),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["Admission", "InsufficientCredits"] * 10
    assert await checked_balance(db, rich_id) == 1000 - 20
    assert await checked_balance(db, broke_id) == 0


async def test_a_lone_admission_takes_no_savepoint_and_a_refused_one_leaves_no_trace(db, accounting):
    rich_id, _ = await user_with_key(db)
    broke_id, _ = await user_with_key(db, plan="broke")
    statements: list[str] = []

    @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
    def _on_statement(_connection, _cursor, statement, *_args) -> None:
        statements.append(statement)

    admission = await admit(accounting, db, rich_id)
    await accounting.succeed(admission)
    with pytest.raises(InsufficientCredits):
        await admit(accounting, db, broke_id)

    assert statements and not [s for s in statements if "SAVEPOINT" in s.upper()]
    assert await checked_balance(db, rich_id) == 999 and await checked_balance(db, broke_id) == 0
    async with db.read() as session:
        assert (await session.exec(select(UsageRecord).where(UsageRecord.user_id == broke_id))).all() == []


async def test_without_group_commit_each_admission_is_its_own_transaction(db, clock):
    accounting = Accounting(db=db, config=make_config(ledger={"group_commit": False}), clock=clock)
    user_id, _ = await user_with_key(db, plan="per-minute")
    commits = count_commits(db)
    results = await asyncio.gather(*(admit(accounting, db, user_id) for _ in range(65)), return_exceptions=True)
    assert sum(not isinstance(r, Exception) for r in results) == 60
    assert commits[0] == 60
    assert await checked_balance(db, user_id) == 940


async def test_plans_without_a_per_minute_limit_write_no_rate_events(db, accounting):
    user_id, _ = await user_with_key(db)
    await asyncio.gather(*(admit(accounting, db, user_id) for _ in range(5)))
    async with db.read() as session:
        assert (await session.exec(select(func.count()).select_from(RateEvent))).one() == 0


async def test_a_success_returns_the_credits_of_withheld_images_once(db, accounting):
    user_id, _ = await user_with_key(db)
    admission = await admit(accounting, db, user_id, cost=6, images=3)

    assert await accounting.succeed(admission, refund=4)
    # Settled: neither a late failure nor the reaper refunds it again.
    await accounting.fail(admission, error="late")
    assert await checked_balance(db, user_id) == 1000 - 6 + 4
    async with db.read() as session:
        record = await session.get(UsageRecord, admission.request_id)
    assert record.status == "succeeded"


async def test_a_refund_on_success_never_exceeds_the_debit(db, accounting):
    user_id, _ = await user_with_key(db)
    admission = await admit(accounting, db, user_id, cost=2)

    await accounting.succeed(admission, refund=5)
    assert await checked_balance(db, user_id) == 1000
