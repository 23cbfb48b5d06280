"""Idempotency keys on SQLite and PostgreSQL, with concurrent duplicates on separate connections:
one run and one charge per key, the first response replayed, 422 for another body, 409 while the
first runs, errors release the key, and keys expire."""

import asyncio
import json
from datetime import UTC, datetime

import pytest

from serve_app.db.session import Database
from serve_app.errors import GenerationFailed, IdempotencyKeyInUse, IdempotencyKeyReused
from serve_app.services.accounting import Accounting
from serve_app.services.idempotency import IdempotencyKeys, StoredResponse, fingerprint
from serve_app.services.users import find_user
from tests.factories import ManualClock, checked_balance, make_config, user_with_key

TTL_S = 3600
LEASE_S = 30


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 5, 1, 12, 0, tzinfo=UTC))


def keys_on(db: Database, clock: ManualClock) -> IdempotencyKeys:
    return IdempotencyKeys(db=db, clock=clock, ttl_s=TTL_S, lease_s=LEASE_S)


class ChargedRun:
    """A request's work: admits and charges 1 credit, waits on `gate`, succeeds with a body
    naming its run; counts how often it ran."""

    def __init__(self, db: Database, clock: ManualClock, user_id: int):
        self.db, self.user_id, self.runs = db, user_id, 0
        self.accounting = Accounting(db=db, config=make_config(), clock=clock)
        self.gate = asyncio.Event()

    async def __call__(self) -> StoredResponse:
        self.runs += 1
        run = self.runs
        user = await find_user(db=self.db, name_or_id=str(self.user_id))
        admission = await self.accounting.admit(user=user, correlation_id="req", model="tiny-sd", images=1, cost=1)
        await self.gate.wait()
        await self.accounting.succeed(admission)
        return StoredResponse(status_code=200, body=json.dumps({"run": run}).encode(), content_type="application/json")


async def test_concurrent_duplicates_run_once_and_are_charged_once(db, clock):
    user_id, _ = await user_with_key(db)
    work = ChargedRun(db, clock, user_id)
    engines = [Database(db.url) for _ in range(8)]
    same = fingerprint("/api/v1/generate", {"prompt": "a fox"})
    try:
        first = asyncio.create_task(keys_on(db, clock).once(user_id=user_id, key="k1", fingerprint=same, run=work))
        while work.runs == 0:
            await asyncio.sleep(0.01)
        duplicates = await asyncio.gather(
            *(keys_on(engine, clock).once(user_id=user_id, key="k1", fingerprint=same, run=work) for engine in engines),
            return_exceptions=True,
        )
        assert all(isinstance(d, IdempotencyKeyInUse) and d.status_code == 409 for d in duplicates)
        work.gate.set()
        response, replayed = await first
        replays = await asyncio.gather(
            *(keys_on(engine, clock).once(user_id=user_id, key="k1", fingerprint=same, run=work) for engine in engines)
        )
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    assert (response.status_code, json.loads(response.body), replayed) == (200, {"run": 1}, False)
    assert all(r == (response, True) for r in replays)
    assert work.runs == 1
    assert await checked_balance(db, user_id) == 999


async def test_concurrent_first_uses_of_one_key_admit_exactly_one(db, clock):
    user_id, _ = await user_with_key(db)
    work = ChargedRun(db, clock, user_id)
    work.gate.set()
    engines = [Database(db.url) for _ in range(10)]
    same = fingerprint("/v1/images/generations", {"prompt": "an owl", "n": 1})
    try:
        results = await asyncio.gather(
            *(keys_on(engine, clock).once(user_id=user_id, key="k2", fingerprint=same, run=work) for engine in engines),
            return_exceptions=True,
        )
    finally:
        await asyncio.gather(*(engine.dispose() for engine in engines))
    answered = [r for r in results if not isinstance(r, Exception)]
    assert all(isinstance(r, IdempotencyKeyInUse) for r in results if isinstance(r, Exception))
    assert {json.loads(response.body)["run"] for response, _ in answered} == {1}
    assert work.runs == 1 and await checked_balance(db, user_id) == 999


async def test_the_same_key_with_another_body_or_endpoint_is_a_422(db, clock):
    user_id, _ = await user_with_key(db)
    keys, work = keys_on(db, clock), ChargedRun(db, clock, user_id)
    work.gate.set()
    await keys.once(user_id=user_id, key="k3", fingerprint=fingerprint("/api/v1/generate", {"prompt": "a"}), run=work)
    for other in (
        fingerprint("/api/v1/generate", {"prompt": "b"}),
        fingerprint("/v1/images/generations", {"prompt": "a"}),
    ):
        with pytest.raises(IdempotencyKeyReused) as info:
            await keys.once(user_id=user_id, key="k3", fingerprint=other, run=work)
        assert info.value.status_code == 422
    assert work.runs == 1 and await checked_balance(db, user_id) == 999


async def test_a_key_belongs_to_its_user(db, clock):
    keys = keys_on(db, clock)
    same = fingerprint("/api/v1/generate", {"prompt": "a"})
    for _ in range(2):
        user_id, _ = await user_with_key(db)
        work = ChargedRun(db, clock, user_id)
        work.gate.set()
        _, replayed = await keys.once(user_id=user_id, key="shared", fingerprint=same, run=work)
        assert not replayed and work.runs == 1 and await checked_balance(db, user_id) == 999


async def test_an_error_releases_the_key_so_a_retry_runs_afresh(db, clock):
    user_id, _ = await user_with_key(db)
    keys = keys_on(db, clock)
    same = fingerprint("/api/v1/generate", {"prompt": "a"})

    async def failing() -> StoredResponse:
        raise GenerationFailed("the model failed; refunded")

    with pytest.raises(GenerationFailed):
        await keys.once(user_id=user_id, key="k4", fingerprint=same, run=failing)
    work = ChargedRun(db, clock, user_id)
    work.gate.set()
    response, replayed = await keys.once(user_id=user_id, key="k4", fingerprint=same, run=work)
    assert (response.status_code, replayed, work.runs) == (200, False, 1)


async def test_a_key_whose_holder_died_is_taken_over_after_its_lease(db, clock):
    user_id, _ = await user_with_key(db)
    keys = keys_on(db, clock)
    same = fingerprint("/api/v1/generate", {"prompt": "a"})
    abandoned = await keys.claim(user_id=user_id, key="k5", fingerprint=same)  # its ingress "dies" now
    with pytest.raises(IdempotencyKeyInUse):
        await keys.claim(user_id=user_id, key="k5", fingerprint=same)
    clock.advance(seconds=LEASE_S + 1)
    taken = await keys.claim(user_id=user_id, key="k5", fingerprint=same)
    assert taken.claim != abandoned.claim
    # The first holder, were it only slow, can no longer complete the key.
    await keys.complete(abandoned, StoredResponse(status_code=200, body=b"{}", content_type="application/json"))
    with pytest.raises(IdempotencyKeyInUse):
        await keys.claim(user_id=user_id, key="k5", fingerprint=same)


async def test_keys_expire_after_their_time_to_live_and_are_purged(db, clock):
    user_id, _ = await user_with_key(db)
    keys = keys_on(db, clock)
    work = ChargedRun(db, clock, user_id)
    work.gate.set()
    same = fingerprint("/api/v1/generate", {"prompt": "a"})
    await keys.once(user_id=user_id, key="k6", fingerprint=same, run=work)
    clock.advance(seconds=TTL_S - 1)
    assert await keys.purge_expired() == 0
    assert (await keys.once(user_id=user_id, key="k6", fingerprint=same, run=work))[1] is True
    clock.advance(seconds=2)
    assert await keys.purge_expired() == 1
    _, replayed = await keys.once(user_id=user_id, key="k6", fingerprint=same, run=work)
    assert not replayed and work.runs == 2


async def test_a_request_cancelled_while_it_claims_its_key_leaves_the_key_free(db, clock):
    # The client hung up while its key was being claimed: a retry must run, not wait out a lease.
    user_id, _ = await user_with_key(db)
    keys = keys_on(db, clock)
    same = fingerprint("/api/v1/generate", {"prompt": "a"})
    never_runs = ChargedRun(db, clock, user_id)
    # A claim takes a few hundred turns of the event loop (the driver works in a thread): cancel
    # after every few turns, so some cancellations land while its insert commits.
    for loop_turns in range(0, 800, 8):
        key = f"cancelled after {loop_turns} turns"
        attempt = asyncio.ensure_future(keys.once(user_id=user_id, key=key, fingerprint=same, run=never_runs))
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        attempt.cancel()
        await asyncio.gather(attempt, return_exceptions=True)
        try:
            await keys.release(await keys.claim(user_id=user_id, key=key, fingerprint=same))
        except IdempotencyKeyInUse:
            pytest.fail(f"cancelled after {loop_turns} turns of the loop, the key stayed claimed")
