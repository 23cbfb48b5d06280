"""Fault: a test-owned PostgreSQL server is stopped (immediate mode, as a crash) in the middle of
generation traffic over HTTP, then started again. Clients get 200 or a 503 with Retry-After, never
a 500; every balance equals its ledger sum; generations work again once the server is back.

Without admission leases, a request charged before the outage whose settlement could not be
written stays `pending` and charged; this test counts those and asserts nothing else about them
(the ledger's lease reaper refunds them)."""

import asyncio
import shutil
import tempfile
import time
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.db.models import UsageRecord
from tests.conftest import free_port
from tests.factories import checked_balance, make_config, user_with_key
from tests.serve_app.services.test_generation import InProcessHandle, backend  # noqa: F401  (fixture)
from tests.support.postgres import OwnedPostgres, server_binaries

pytestmark = pytest.mark.fault


@pytest.fixture
def owned_postgres():
    if server_binaries() is None:
        pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    # Not under pytest's tmp_path: the server may run as another user, who must reach the directory.
    root = Path(tempfile.mkdtemp(prefix="pixelray-pg-"))
    try:
        server = OwnedPostgres(root, free_port())
        server.start()
        yield server
        server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_postgres_stopped_mid_traffic_answers_503_and_keeps_the_ledger(owned_postgres, backend, tmp_path):  # noqa: F811  (backend is the imported fixture, requested by name)
    config = make_config(
        database_url=owned_postgres.url,
        public_base_url="http://testserver",
        storage={"enabled": True, "backend": "local", "local_dir": str(tmp_path / "files")},
    )
    state = AppState.build(config, model_handles={"tiny-sd": InProcessHandle(backend)})
    await state.startup()
    users = [await user_with_key(state.db, config=config) for _ in range(2)]
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=120) as client:

        async def generate(i: int, prompt: str = "a fox") -> httpx.Response:
            _, key = users[i % 2]
            return await client.post(
                "/api/v1/generate",
                json={"prompt": f"{prompt} {i}", "seed": i},
                headers={"Authorization": f"Bearer {key}"},
            )

        traffic = [asyncio.create_task(generate(i)) for i in range(12)]
        while sum(task.done() for task in traffic) < 3:
            await asyncio.sleep(0.05)
        await asyncio.to_thread(owned_postgres.stop)
        responses = await asyncio.gather(*traffic)
        statuses = [r.status_code for r in responses]
        assert set(statuses) <= {200, 503} and 503 in statuses, [r.text for r in responses]
        assert all(int(r.headers["retry-after"]) >= 1 for r in responses if r.status_code == 503)

        restarted = time.monotonic()
        await asyncio.to_thread(owned_postgres.start)
        while (after := await generate(0, "after")).status_code != 200:
            assert after.status_code == 503 and time.monotonic() - restarted < 60, after.text
            await asyncio.sleep(0.2)
        back_s = time.monotonic() - restarted

    async with state.db.read() as session:
        records = {r.correlation_id: r for r in await session.exec(select(UsageRecord))}
    served = {r.json()["request_id"] for r in responses if r.status_code == 200}
    assert all(records[request_id].status == "succeeded" for request_id in served)
    for user_id, _ in users:
        await checked_balance(state.db, user_id)
    stuck = [r for r in records.values() if r.status == "pending"]
    await state.shutdown()
    print(
        f"postgres fault: {statuses.count(503)} of 12 requests got 503, {len(stuck)} charged and left pending "
        f"(for the lease reaper); serving again {back_s:.1f} s after the restart"
    )
