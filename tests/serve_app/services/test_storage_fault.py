"""Fault: the S3 storage backend (a test-owned SeaweedFS) stops in the middle of generation
traffic, on SQLite and PostgreSQL. Clients get 200 or a 503 with Retry-After, every failed request
is refunded once, nothing stays pending, and generations succeed again once S3 is back."""

import asyncio
import time

import pytest
from sqlmodel import select

from serve_app.db.models import UsageRecord
from serve_app.errors import ServiceUnavailable
from serve_app.schemas.generate import GenerateRequest
from serve_app.services.context import RequestContext
from serve_app.storage.s3 import S3ObjectStore
from tests.factories import checked_balance
from tests.serve_app.conftest import weed_ports
from tests.serve_app.services.test_generation import backend, service, user_of  # noqa: F401  (fixture)
from tests.support.weed import WeedServer

pytestmark = pytest.mark.fault


@pytest.fixture
def weed(tmp_path):
    server = WeedServer(tmp_path, weed_ports())
    server.start()
    yield server
    server.stop()


async def test_storage_stopped_mid_traffic_costs_a_503_and_no_credit(db, backend, weed):  # noqa: F811  (backend is the imported fixture, requested by name)
    store = S3ObjectStore(weed.config.model_copy(update={"bucket": "fault"}))
    await store.prepare()
    generation = service(db, backend, store)
    users = [await user_of(db), await user_of(db)]
    statuses: dict[str, int] = {}

    async def request(i: int) -> None:
        request_id = f"req_fault{i}"
        try:
            await generation.generate(
                user=users[i % 2],
                request=GenerateRequest(prompt=f"a fox {i}", seed=i),
                context=RequestContext(request_id),
            )
            statuses[request_id] = 200
        except ServiceUnavailable as exc:
            assert exc.retry_after >= 1 and "refunded" in exc.message
            statuses[request_id] = 503

    traffic = [asyncio.create_task(request(i)) for i in range(12)]
    while len(statuses) < 3:
        await asyncio.sleep(0.05)
    await asyncio.to_thread(weed.stop)
    await asyncio.gather(*traffic)
    assert set(statuses.values()) <= {200, 503} and 503 in statuses.values()

    stopped_at = time.monotonic()
    await asyncio.to_thread(weed.start)
    recovered = None
    for attempt in range(60):
        try:
            await generation.generate(
                user=users[0], request=GenerateRequest(prompt="after"), context=RequestContext(f"req_after{attempt}")
            )
            recovered = time.monotonic() - stopped_at
            break
        except ServiceUnavailable:
            await asyncio.sleep(0.5)
    assert recovered is not None and recovered < 60, "generations work again once S3 is back"

    async with db.read() as session:
        records = list(await session.exec(select(UsageRecord)))
    assert not [r for r in records if r.status == "pending"], "nothing stays pending"
    assert {r.correlation_id: r.status for r in records if r.correlation_id in statuses} == {
        request_id: "succeeded" if status == 200 else "failed" for request_id, status in statuses.items()
    }
    for user in users:
        balance = await checked_balance(db, user.id)
        succeeded = sum(1 for r in records if r.user_id == user.id and r.status == "succeeded")
        assert balance == 1000 - succeeded, "exactly the delivered images are paid for"
    print(
        f"storage fault: {list(statuses.values()).count(503)} of 12 requests got 503; S3 back and "
        f"serving after {recovered:.1f} s from restart"
    )
