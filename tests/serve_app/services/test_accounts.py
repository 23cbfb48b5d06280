"""Console accounts on both databases: sign-up, Argon2 passwords, and the per-minute log-in limits."""

import asyncio
from datetime import UTC, datetime

import pytest

from serve_app.errors import Forbidden, InvalidRequest, RateLimited
from serve_app.services import accounts, users
from serve_app.services.accounts import BadCredentials
from tests.factories import ManualClock, make_config

PASSWORD = "correct horse battery"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 27, 12, 0, tzinfo=UTC))


async def log_in(db, clock, name, password, *, address="203.0.113.7", config=None):
    return await accounts.log_in(
        db=db, config=config or make_config(), clock=clock, name=name, password=password, address=address
    )


async def test_a_new_account_gets_the_default_plans_credits_and_logs_in(db, clock):
    created = await accounts.sign_up(db=db, config=make_config(), name="alice", password=PASSWORD)
    assert created.user.plan == "test" and created.user.balance == 1000
    assert (await log_in(db, clock, "alice", PASSWORD)).id == created.user.id


async def test_passwords_are_stored_as_argon2id_hashes(db):
    created = await accounts.sign_up(db=db, config=make_config(), name="alice", password=PASSWORD)
    stored = (await accounts.account_of(db=db, user_id=created.user.id)).password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


async def test_the_sixth_bad_password_in_a_minute_is_refused_even_when_it_is_right(db, clock):
    await accounts.sign_up(db=db, config=make_config(), name="alice", password=PASSWORD)
    for _ in range(5):
        with pytest.raises(BadCredentials):
            await log_in(db, clock, "alice", "wrong password")
    with pytest.raises(RateLimited) as refused:
        await log_in(db, clock, "alice", PASSWORD)
    assert refused.value.retry_after <= 61
    clock.advance(seconds=61)
    assert (await log_in(db, clock, "alice", PASSWORD)).name == "alice"


async def test_one_address_is_limited_across_accounts(db, clock):
    config = make_config(console={"login_failures_per_address": 3})
    for attempt in range(3):
        with pytest.raises(BadCredentials):
            await log_in(db, clock, f"nobody-{attempt}", "wrong password", config=config)
    with pytest.raises(RateLimited):
        await log_in(db, clock, "someone-else", "wrong password", config=config)
    # Another address is not held back by this one.
    with pytest.raises(BadCredentials):
        await log_in(db, clock, "someone-else", "wrong password", address="198.51.100.1", config=config)


async def test_sign_up_can_be_closed_for_invite_only_servers(db):
    with pytest.raises(Forbidden):
        await accounts.sign_up(db=db, config=make_config(console={"signup": False}), name="alice", password=PASSWORD)


@pytest.mark.parametrize(("name", "password", "field"), [("a", PASSWORD, "name"), ("alice", "short", "password")])
async def test_sign_up_names_the_bad_field(db, name, password, field):
    with pytest.raises(InvalidRequest) as error:
        await accounts.sign_up(db=db, config=make_config(), name=name, password=password)
    assert error.value.field == field


async def test_a_cli_made_user_logs_in_once_a_password_is_set(db, clock):
    created = await users.create_user(db=db, config=make_config(), name="bob")
    with pytest.raises(BadCredentials):
        await log_in(db, clock, "bob", "")
    await accounts.set_password(db=db, user_id=created.user.id, password=PASSWORD)
    assert (await log_in(db, clock, "bob", PASSWORD)).id == created.user.id


async def test_a_suspended_user_cannot_log_in(db, clock):
    created = await accounts.sign_up(db=db, config=make_config(), name="alice", password=PASSWORD)
    await users.set_suspended(db=db, user_id=created.user.id, suspended=True)
    with pytest.raises(Forbidden):
        await log_in(db, clock, "alice", PASSWORD)


async def test_roles_default_to_user_and_admin_is_set_explicitly(db):
    created = await users.create_user(db=db, config=make_config(), name="root")
    assert (await accounts.account_of(db=db, user_id=created.user.id)).role == "user"
    await accounts.set_role(db=db, user_id=created.user.id, role="admin")
    assert (await accounts.account_of(db=db, user_id=created.user.id)).role == "admin"
    with pytest.raises(InvalidRequest):
        await accounts.set_role(db=db, user_id=created.user.id, role="superuser")


async def test_concurrent_guesses_cannot_slip_under_the_limit(db, clock):
    await accounts.sign_up(db=db, config=make_config(), name="alice", password=PASSWORD)
    outcomes = await asyncio.gather(
        *(log_in(db, clock, "alice", f"guess {n}") for n in range(10)), return_exceptions=True
    )
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["BadCredentials"] * 5 + ["RateLimited"] * 5
