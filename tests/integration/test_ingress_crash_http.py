"""An ingress replica killed mid-request (2 replicas): its clients get the proxy's 500, and once
the admission leases lapse the reaper has refunded every lost request exactly once and freed its
concurrency slot; the requests the other replica served are charged as usual."""

import asyncio
import time

import httpx
import pytest
import ray
from ray import serve
from sqlmodel import select

from serve_app.db.models import CreditEntry, UsageRecord
from serve_app.services.accounting import LAPSED
from tests.factories import checked_balance, user_with_key

pytestmark = pytest.mark.serve

# Slow enough that all four are still running when the test sees them admitted (it polls every
# 0.2 s) and when the replica dies, on a fast CPU too: 128x128 at 12 steps took 0.12 s alone.
SLOW = {"width": 256, "height": 256, "num_inference_steps": 50}


async def records_of(serve_app, user_id: int) -> list[UsageRecord]:
    async with serve_app.db.read() as session:
        return list(await session.exec(select(UsageRecord).where(UsageRecord.user_id == user_id)))


async def wait_until(predicate, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        await asyncio.sleep(0.2)


async def ingress_healthy() -> bool:
    ingress = serve.status().applications["pixelray"].deployments["ingress"]
    return ingress.status == "HEALTHY" and ingress.replica_states.get("RUNNING", 0) == 2


async def test_a_killed_ingress_replicas_requests_are_refunded_once_after_the_lease(serve_app):
    user_id, key = await user_with_key(serve_app.db, plan="four-at-once")
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=serve_app.base_url, timeout=240) as client:
        sent = [
            asyncio.create_task(
                client.post("/api/v1/generate", json={"prompt": f"a lighthouse {i}", **SLOW}, headers=headers)
            )
            for i in range(4)
        ]

        async def all_admitted() -> bool:
            return len([r for r in await records_of(serve_app, user_id) if r.status == "pending"]) == 4

        await wait_until(all_admitted, timeout=30, what="4 requests admitted")
        [victim, *_] = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#ingress#" in a["name"]]
        ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
        responses = await asyncio.gather(*sent, return_exceptions=True)

        # What a client of the dead replica sees: the proxy's plain-text 500, or a dropped connection.
        lost = [r for r in responses if isinstance(r, httpx.TransportError) or r.status_code == 500]
        served = [r for r in responses if not isinstance(r, Exception) and r.status_code == 200]
        assert len(lost) + len(served) == 4, responses
        assert lost, "the killed replica held none of the requests; nothing was tested"
        assert all(r.text == "Internal Server Error" for r in lost if not isinstance(r, Exception))

        async def nothing_pending() -> bool:
            return all(r.status != "pending" for r in await records_of(serve_app, user_id))

        # Lease (5 s) + reaper interval (0.5 s), with room for a noisy machine.
        await wait_until(nothing_pending, timeout=30, what="every lost request settled by the reaper")
        records = await records_of(serve_app, user_id)
        assert sorted(r.status for r in records) == sorted(["succeeded"] * (4 - len(lost)) + ["failed"] * len(lost))
        assert all(r.error == LAPSED for r in records if r.status == "failed")
        async with serve_app.db.read() as session:
            refunds = list(
                await session.exec(
                    select(CreditEntry).where(CreditEntry.user_id == user_id, CreditEntry.kind == "refund")
                )
            )
        assert sorted(e.request_id for e in refunds) == sorted(r.request_id for r in records if r.status == "failed")
        assert await checked_balance(serve_app.db, user_id) == 1000 - (4 - len(lost))

        await wait_until(ingress_healthy, timeout=60, what="Serve replaced the killed ingress replica")
        # The lost requests' slots are free again: four at once are admitted.
        again = await asyncio.gather(
            *(
                client.post("/api/v1/generate", json={"prompt": "a kite", "width": 64}, headers=headers)
                for _ in range(4)
            )
        )
        assert [r.status_code for r in again] == [200] * 4, [r.text[:200] for r in again]
