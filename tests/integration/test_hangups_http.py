"""Clients that hang up, over HTTP on the real Serve application: work nobody waits for stops
(queued requests leave their batch, running ones stop at the next denoising step), it is not
charged, and nobody else waits behind it. Measured in denoising steps the model replica counts
(`DiffusionServer.stats`), not in wall-clock time."""

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from sqlmodel import func, select

from serve_app.db.models import CachedImage
from serve_app.db.models import Image as ImageRow
from tests.factories import checked_balance, project_with_owner, user_with_key

pytestmark = pytest.mark.serve

# The test app's model whose sides go to 1024 px (tests/conftest.py). A blocker of 50 steps at
# 1024² runs for seconds even on a fast machine (at 256², the tiny model's largest, it took 0.6 s
# on one, so it ended, and the request queued behind it finished, before the test hung up).
MODEL = "tiny-block-sd"
BLOCKER_SIZE = 1024
# Far more steps than run before the hang-up reaches the replica: a request that kept running
# would show them all.
LONG_STEPS = 50
# The hang-up travels client -> proxy -> ingress -> replica while the pipeline keeps stepping.
STEPS_IN_FLIGHT = 3


@pytest.fixture
def replica():
    from ray import serve

    return serve.get_deployment_handle(MODEL, app_name="pixelray")


async def stats(handle) -> dict:
    return await handle.stats.remote()


async def until(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while not await check():
        assert time.monotonic() < deadline, "the replica never got there"
        await asyncio.sleep(0.05)


async def images_of(serve_app, user_id: int) -> int:
    async with serve_app.db.read() as session:
        return (await session.exec(select(func.count()).select_from(ImageRow).where(ImageRow.user_id == user_id))).one()


class Caller:
    """One client on its own connection, which it drops on `hang_up`."""

    def __init__(self, serve_app, request: Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]):
        self._client = httpx.AsyncClient(base_url=serve_app.base_url, timeout=300)
        self.task = asyncio.ensure_future(request(self._client))

    async def hang_up(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        await self._client.aclose()

    async def response(self) -> httpx.Response:
        try:
            return await self.task
        finally:
            await self._client.aclose()


def long_generation(key: str, *, size: int = BLOCKER_SIZE) -> Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]:
    body = {
        "model": MODEL,
        "prompt": f"a slow lighthouse {secrets.token_hex(3)}",
        "width": size,
        "height": size,
        "num_inference_steps": LONG_STEPS,
    }
    return lambda client: client.post("/api/v1/generate", json=body, headers={"Authorization": f"Bearer {key}"})


async def until_idle(handle) -> dict:
    """The replica's stats once its pipeline holds nothing."""

    async def idle() -> bool:
        return (await stats(handle))["running"] == 0

    await until(idle)
    return await stats(handle)


async def until_queued(handle, count: int = 1) -> None:
    """Until `count` requests wait on the replica (they have passed the ingress)."""

    async def waiting() -> bool:
        return (await stats(handle))["queued"] >= count

    await until(waiting)


async def start_running(serve_app, replica, key: str) -> tuple[Caller, int]:
    """A long generation, once the replica is stepping through it; and the step count then."""
    before = (await stats(replica))["steps"]
    caller = Caller(serve_app, long_generation(key))

    async def stepping() -> bool:
        return (await stats(replica))["steps"] > before

    await until(stepping)
    return caller, (await stats(replica))["steps"]


async def test_a_client_that_hangs_up_stops_its_generation_at_the_next_step_and_pays_nothing(serve_app, api, replica):
    user_id, key = await user_with_key(serve_app.db)
    balance = await checked_balance(serve_app.db, user_id)
    stopped_before = (await stats(replica))["abandoned"]["running"]
    caller, steps_at_hang_up = await start_running(serve_app, replica, key)
    await caller.hang_up()

    after = await until_idle(replica)
    assert after["abandoned"]["running"] == stopped_before + 1
    assert after["steps"] - steps_at_hang_up <= STEPS_IN_FLIGHT
    # Another request runs next: nothing is left of the first.
    small = await api.post(
        "/api/v1/generate",
        json={"prompt": "a quick fox", "num_inference_steps": 2},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert small.status_code == 200, small.text
    await until(lambda: _settled(serve_app, user_id, balance - 1))
    assert await images_of(serve_app, user_id) == 1


async def _settled(serve_app, user_id: int, expected: int) -> bool:
    # The refund lands as the ingress unwinds the cancelled request, a moment after the hang-up.
    return await checked_balance(serve_app.db, user_id) == expected


async def test_a_request_whose_client_hangs_up_while_queued_never_runs(serve_app, replica):
    user_id, key = await user_with_key(serve_app.db)
    balance = await checked_balance(serve_app.db, user_id)
    queued_before = (await stats(replica))["abandoned"]["queued"]
    blocker, _ = await start_running(serve_app, replica, key)
    # A different size: it cannot join the running call, so it waits for the next batch.
    queued = Caller(serve_app, long_generation(key, size=128))

    async def left_queue() -> bool:
        return (await stats(replica))["abandoned"]["queued"] > queued_before

    await until_queued(replica)
    await queued.hang_up()
    await until(left_queue)
    steps_at_hang_up = (await stats(replica))["steps"]
    await blocker.hang_up()
    # The blocker stops within the steps in flight, and the queued request never starts.
    assert (await until_idle(replica))["steps"] - steps_at_hang_up <= STEPS_IN_FLIGHT
    await until(lambda: _settled(serve_app, user_id, balance))
    assert await images_of(serve_app, user_id) == 0


async def test_one_client_hanging_up_does_not_fail_another_waiting_on_the_same_image(serve_app, replica):
    _, key = await user_with_key(serve_app.db)
    project = await project_with_owner(serve_app.db)
    balance = await checked_balance(serve_app.db, project.user_id)
    # The model is busy, so the image both wait for is still queued when the first hangs up.
    blocker, _ = await start_running(serve_app, replica, key)
    image_url = f"/p/{project.slug}/image?model={MODEL}&prompt=shared%20{secrets.token_hex(3)}"
    first = Caller(serve_app, lambda client: client.get(image_url))
    await until_queued(replica)
    second = Caller(serve_app, lambda client: client.get(image_url))
    # Time for the second to reach an ingress and wait (on the same replica or through the cache row).
    await asyncio.sleep(0.5)
    await first.hang_up()
    await blocker.hang_up()

    answer = await second.response()
    assert answer.status_code == 200, answer.headers.get("x-error-message")
    assert answer.headers["content-type"].startswith("image/")
    assert await images_of(serve_app, project.user_id) == 1
    assert await checked_balance(serve_app.db, project.user_id) == balance - 1


async def test_a_shared_generation_stops_and_is_refunded_when_every_waiter_hangs_up(serve_app, api, replica):
    _, key = await user_with_key(serve_app.db)
    project = await project_with_owner(serve_app.db)
    balance = await checked_balance(serve_app.db, project.user_id)
    blocker, _ = await start_running(serve_app, replica, key)
    image_url = f"/p/{project.slug}/image?model={MODEL}&prompt=nobody%20waits%20{secrets.token_hex(3)}"
    waiters = [Caller(serve_app, lambda client: client.get(image_url)) for _ in range(2)]
    await until_queued(replica)
    await asyncio.sleep(0.5)
    for waiter in waiters:
        await waiter.hang_up()
    assert (await stats(replica))["running"], "the blocker ended before the waiters hung up: make it longer"
    await blocker.hang_up()

    async def released() -> bool:
        async with serve_app.db.read() as session:
            rows = (await session.exec(select(CachedImage).where(CachedImage.project_id == project.id))).all()
        return not rows

    await until(released)
    await until(lambda: _settled(serve_app, project.user_id, balance))
    assert await images_of(serve_app, project.user_id) == 0
    # The key was given up, not marked failed: the next request generates it.
    again = await api.get(image_url)
    assert again.status_code == 200 and again.headers["x-cache"] == "MISS"


def streamed_generation(key: str) -> Callable[[httpx.AsyncClient], Awaitable[httpx.Response]]:
    body = {
        "model": MODEL,
        "prompt": f"a slow lighthouse {secrets.token_hex(3)}",
        "size": "256x256",
        "steps": LONG_STEPS,
        "stream": True,
        "partial_images": 3,
    }

    async def request(client: httpx.AsyncClient) -> httpx.Response:
        async with client.stream(
            "POST", "/v1/images/generations", json=body, headers={"Authorization": f"Bearer {key}"}
        ) as response:
            async for _ in response.aiter_bytes():
                pass
        return response

    return request


async def test_a_streaming_client_that_hangs_up_stops_its_generation_and_pays_nothing(serve_app, replica):
    # Previews and hang-ups share the replica's step callback: listening must not keep a call alive.
    user_id, key = await user_with_key(serve_app.db)
    balance = await checked_balance(serve_app.db, user_id)
    stopped_before = (await stats(replica))["abandoned"]["running"]
    before = (await stats(replica))["steps"]
    caller = Caller(serve_app, streamed_generation(key))

    async def stepping() -> bool:
        return (await stats(replica))["steps"] > before

    await until(stepping)
    steps_at_hang_up = (await stats(replica))["steps"]
    await caller.hang_up()

    after = await until_idle(replica)
    assert after["abandoned"]["running"] == stopped_before + 1
    assert after["steps"] - steps_at_hang_up <= STEPS_IN_FLIGHT
    await until(lambda: _settled(serve_app, user_id, balance))
    assert await images_of(serve_app, user_id) == 0
