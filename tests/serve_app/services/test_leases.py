"""Admission leases on SQLite and PostgreSQL: a request whose ingress died is refunded once by the
reaper and frees its slot; a late settlement never refunds twice nor charges again; the client's
request id never keys the ledger."""

import asyncio
from datetime import UTC, datetime

import pytest
from sqlmodel import select

from serve_app.db.models import CreditEntry, Job, PageUrl, UsageRecord
from serve_app.db.session import Database
from serve_app.errors import RateLimited
from serve_app.services.accounting import LAPSED, Accounting
from serve_app.services.users import find_user
from tests.factories import ManualClock, checked_balance, make_config, user_with_key

LEASE_S = 30


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


def config(**overrides):
    plans = [
        {"slug": "one", "name": "One", "max_concurrent": 1, "initial_credits": 10},
        {"slug": "many", "name": "Many", "max_concurrent": None, "initial_credits": 100},
    ]
    return make_config(plans=plans, ledger={"lease_s": LEASE_S}, **overrides)


@pytest.fixture
def accounting(db: Database, clock: ManualClock) -> Accounting:
    return Accounting(db=db, config=config(), clock=clock)


async def admit(
    accounting: Accounting, db: Database, user_id: int, *, correlation_id: str = "req_client", cost: int = 1
):
    user = await find_user(db=db, name_or_id=str(user_id))
    return await accounting.admit(user=user, correlation_id=correlation_id, model="tiny-sd", images=1, cost=cost)


async def record(db: Database, request_id: str) -> UsageRecord:
    async with db.read() as session:
        return await session.get(UsageRecord, request_id)


async def refunds(db: Database, request_id: str) -> int:
    async with db.read() as session:
        rows = await session.exec(
            select(CreditEntry).where(CreditEntry.request_id == request_id, CreditEntry.kind == "refund")
        )
        return len(rows.all())


async def test_a_lapsed_lease_is_refunded_once_and_frees_its_slot(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="one", config=config())
    admission = await admit(accounting, db, user_id, cost=3)  # its ingress "dies": never settled
    with pytest.raises(RateLimited):
        await admit(accounting, db, user_id)
    assert await accounting.reap() == 0

    clock.advance(seconds=LEASE_S + 1)
    assert await accounting.reap() == 1
    assert await accounting.reap() == 0

    assert await checked_balance(db, user_id) == 10
    assert await refunds(db, admission.request_id) == 1
    lapsed = await record(db, admission.request_id)
    assert (lapsed.status, lapsed.error, lapsed.lease_expires_at) == ("failed", LAPSED, None)
    assert await admit(accounting, db, user_id)


async def test_a_late_completion_after_the_reaper_is_neither_refunded_again_nor_charged(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="many", config=config())
    admission = await admit(accounting, db, user_id, cost=4)
    clock.advance(seconds=LEASE_S + 1)
    assert await accounting.reap() == 1

    assert await accounting.succeed(admission) is False
    await accounting.fail(admission, error="the late request failed after all")

    assert await checked_balance(db, user_id) == 100
    assert await refunds(db, admission.request_id) == 1
    assert (await record(db, admission.request_id)).status == "failed"


async def test_a_settled_request_is_never_reaped(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="many", config=config())
    admission = await admit(accounting, db, user_id, cost=2)
    assert await accounting.succeed(admission) is True
    clock.advance(seconds=LEASE_S * 10)
    assert await accounting.reap() == 0
    assert await checked_balance(db, user_id) == 98


async def test_a_renewed_lease_outlives_its_first_term(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="many", config=config())
    admission = await admit(accounting, db, user_id)
    clock.advance(seconds=LEASE_S - 1)
    await accounting.renew([admission.request_id])
    clock.advance(seconds=LEASE_S - 1)
    assert await accounting.reap() == 0
    assert (await record(db, admission.request_id)).status == "pending"
    clock.advance(seconds=2)
    assert await accounting.reap() == 1


async def test_the_running_ingress_renews_its_leases_by_itself(db, clock):
    lease = make_config(ledger={"lease_s": 1})
    accounting = Accounting(db=db, config=lease, clock=clock)
    user_id, _ = await user_with_key(db, config=lease)
    admission = await admit(accounting, db, user_id)
    first = (await record(db, admission.request_id)).lease_expires_at
    clock.advance(seconds=10)
    # A renewal runs every third of a lease; wait for one to land, bounded.
    for _ in range(50):
        await asyncio.sleep(0.1)
        if (await record(db, admission.request_id)).lease_expires_at > first:
            break
    assert (await record(db, admission.request_id)).lease_expires_at > first
    await accounting.succeed(admission)


async def test_a_request_handed_to_a_job_is_left_to_the_job_queue(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="many", config=config())
    admission = await admit(accounting, db, user_id, cost=5)
    async with db.write() as session:
        session.add(PageUrl(id="url_lease", user_id=user_id, url="https://example.com/"))
        await session.flush()
        session.add(
            Job(
                id="job_lease",
                user_id=user_id,
                request_id=admission.request_id,
                url_id="url_lease",
                model="tiny-sd",
                style="photo",
                text_treatment="none",
            )
        )
        await accounting.hand_over(admission, session=session)
    clock.advance(seconds=LEASE_S * 3)
    assert await accounting.reap() == 0
    assert (await record(db, admission.request_id)).status == "pending"
    assert await checked_balance(db, user_id) == 95


async def test_concurrent_reapers_refund_each_lapsed_request_exactly_once(db, accounting, clock):
    user_id, _ = await user_with_key(db, plan="many", config=config())
    admissions = [await admit(accounting, db, user_id) for _ in range(12)]
    clock.advance(seconds=LEASE_S + 1)
    engines = [Database(db.url) for _ in range(3)]
    try:
        reaped = await asyncio.gather(*(Accounting(db=e, config=config(), clock=clock).reap(limit=5) for e in engines))
        reaped_more = await asyncio.gather(*(Accounting(db=e, config=config(), clock=clock).reap() for e in engines))
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    assert sum(reaped) + sum(reaped_more) == 12
    assert [await refunds(db, a.request_id) for a in admissions] == [1] * 12
    assert await checked_balance(db, user_id) == 100


async def test_a_reused_client_request_id_never_collides_in_the_ledger(db, accounting):
    first_id, _ = await user_with_key(db, plan="many", config=config())
    second_id, _ = await user_with_key(db, plan="many", config=config())
    admissions = [
        await admit(accounting, db, user_id, correlation_id="my-request-1")
        for user_id in (first_id, first_id, second_id)
    ]
    for admission in admissions:
        await accounting.fail(admission, error="failed on purpose")
    assert len({a.request_id for a in admissions}) == 3
    assert all(a.request_id.startswith("adm_") for a in admissions)
    assert [(await record(db, a.request_id)).correlation_id for a in admissions] == ["my-request-1"] * 3
    assert await checked_balance(db, first_id) == 100 and await checked_balance(db, second_id) == 100
