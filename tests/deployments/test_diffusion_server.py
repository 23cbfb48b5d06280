"""The diffusion deployment on the shared Serve instance: heterogeneous batches split into
groups, pixel-bounded batch sizes, and a failing request that fails alone."""

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace

import pytest

from deployments.batching import BatchingConfig
from deployments.diffusion.builder import build_diffusion_deployment
from deployments.diffusion.config import DiffusionConfig
from deployments.protocol import GenerationError, GenerationParams
from deployments.serve_options import ActorOptions, DeploymentOptions
from serve_app.errors import Overloaded
from serve_app.services.models import ModelClient

pytestmark = pytest.mark.serve

# Four 64×64 images or one 128×128 image fill a batch.
BATCHING = BatchingConfig(max_batch_size=4, batch_wait_timeout_s=0.5, max_batch_pixels=4 * 64 * 64)
# Above the largest burst the other tests send: the handle counts a request as queued until it is routed.
QUEUE = 8


@pytest.fixture(scope="module")
def handle(serve_app, model_cache_dir) -> Iterator:
    from ray import serve

    config = DiffusionConfig(
        source="builtin:tiny-sd",
        cache_dir=str(model_cache_dir),
        device="cpu",
        num_threads=1,
        batching=BATCHING,
        deployment=DeploymentOptions(
            max_ongoing_requests=2 * BATCHING.max_batch_size,
            max_queued_requests=QUEUE,
            ray_actor_options=ActorOptions(num_cpus=0),
        ),
    )
    app = build_diffusion_deployment(config, name="batching-probe")
    yield serve.run(app, name="batching-probe", route_prefix=None)
    serve.delete("batching-probe")


def params(seed: int, size: int = 64, steps: int = 2, **overrides) -> GenerationParams:
    return GenerationParams(
        prompt="a fox", width=size, height=size, num_inference_steps=steps, guidance_scale=5.0, seed=seed, **overrides
    )


async def generate_all(handle, batch: list[GenerationParams]) -> list:
    return await asyncio.gather(*(handle.generate.remote(p) for p in batch), return_exceptions=True)


async def test_concurrent_requests_share_pipeline_calls_up_to_the_batch_size(handle):
    results = await generate_all(handle, [params(seed) for seed in range(8)])
    sizes = [r.batch_size for r in results]
    assert max(sizes) > 1 and max(sizes) <= BATCHING.max_batch_size


async def test_large_images_get_smaller_batches_than_small_ones(handle):
    results = await generate_all(handle, [params(seed, size=128) for seed in range(3)] + [params(9)])
    assert [(r.width, r.batch_size) for r in results[:3]] == [(128, 1)] * 3
    assert results[3].width == 64


async def test_a_batch_of_mixed_shapes_runs_each_group_and_a_bad_request_fails_alone(handle):
    batch = [params(1), params(2, mode="img2img", init_image=b"not an image"), params(3, size=96), params(4)]
    results = await generate_all(handle, batch)
    assert isinstance(results[1], GenerationError) and "init_image" in str(results[1])
    assert [(r.width, r.seed) for r in (results[0], results[2], results[3])] == [(64, 1), (96, 3), (64, 4)]


async def test_requests_beyond_the_queue_are_refused_at_once_as_overloaded(handle):
    client = ModelClient({"probe": handle}, timeout_s=300)
    capacity = 2 * BATCHING.max_batch_size + QUEUE
    finished: list[tuple[float, object]] = []

    async def send(seed: int) -> None:
        try:
            result = await client.generate("probe", params(seed, size=128, steps=20))
        except Exception as exc:
            result = exc
        finished.append((time.monotonic(), result))

    await asyncio.gather(*(send(seed) for seed in range(capacity + 6)))

    refused = [(at, r) for at, r in finished if isinstance(r, Overloaded)]
    assert refused and all(r.status_code == 503 and r.retry_after >= 1 for _, r in refused)
    # Room freed by an image that finished while the burst was still being refused (a busy
    # machine sends slowly) admits one more each, and Serve's router may hold one request in
    # hand while it assigns it; nothing else may get past the queue bound.
    freed = sum(1 for at, r in finished if not isinstance(r, Exception) and at < max(at for at, _ in refused))
    assert len(refused) >= 6 - freed - 1
    assert all(not isinstance(r, Exception) for _, r in finished if not isinstance(r, Overloaded))


async def test_requests_that_queue_while_a_batch_runs_all_join_the_next_one(handle):
    # Long enough that the others arrive while it runs.
    running = handle.generate.remote(replace(params(0), num_inference_steps=50))
    deadline = time.monotonic() + 120
    while (await handle.stats.remote())["running"] == 0:
        assert time.monotonic() < deadline, "the first request never started"
        await asyncio.sleep(0.02)
    queued = [handle.generate.remote(params(seed)) for seed in range(1, 1 + BATCHING.max_batch_size)]
    while (await handle.stats.remote())["queued"] < BATCHING.max_batch_size:
        assert time.monotonic() < deadline, "the requests never queued"
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*queued)
    await running
    assert [r.batch_size for r in results] == [BATCHING.max_batch_size] * BATCHING.max_batch_size
