"""The GET-image cache as a cross-replica lock, on SQLite and PostgreSQL."""

import asyncio

import pytest

from serve_app.db.session import Database
from serve_app.errors import GenerationFailed
from serve_app.services.clock import SystemClock
from serve_app.services.image_url_cache import Claim, ImageCache, cache_key
from tests.factories import project_with_owner


def key_for(project_id: int, prompt: str = "a fox", seed: int | None = None) -> str:
    return cache_key(
        project_id=project_id, target="model:tiny-sd", prompt=prompt, aspect_ratio="1:1", seed=seed, fmt="webp"
    )


def cache(db: Database, *, lease_s: float = 60, wait_s: float = 10) -> ImageCache:
    return ImageCache(db=db, clock=SystemClock(), lease_s=lease_s, wait_s=wait_s, poll_s=0.02)


async def ready(image_cache: ImageCache, claim: Claim) -> None:
    await image_cache.complete(
        claim,
        storage_key="images/x.webp",
        content_type="image/webp",
        etag='"e"',
        model="tiny-sd",
        seed=1,
        generation_ms=5,
    )


def test_the_key_separates_every_canonical_parameter():
    base = dict(project_id=1, target="model:tiny-sd", prompt="a fox", aspect_ratio="1:1", seed=None, fmt="webp")
    variants = [
        {"project_id": 2},
        {"target": "route:quality/fast"},
        {"prompt": "a cat"},
        {"aspect_ratio": "16:9"},
        {"seed": 0},
        {"fmt": "png"},
        {"adapters": (("tiny-style", 1.0),)},
        {"adapters": (("tiny-style", 0.5),)},
    ]
    keys = {cache_key(**{**base, **change}) for change in variants}
    assert len(keys | {cache_key(**base)}) == len(variants) + 1


def test_a_key_without_adapters_is_the_one_entries_were_cached_under_before_adapters():
    # The hash of the parameter list as it was before `lora` existed: old entries stay hits.
    assert key_for(1) == "73f529e4bb5d90bbfe299147fc2aa20ba39e9783e700f3831a058d8ebf785fa6"


async def test_an_entry_keeps_the_safety_verdict_of_its_image(db):
    project = await project_with_owner(db)
    image_cache = cache(db)
    claim = await image_cache.lookup_or_claim(key=key_for(project.id), project_id=project.id)
    await image_cache.complete(
        claim,
        storage_key="images/x.png",
        content_type="image/png",
        etag='"e"',
        model="tiny-sd",
        seed=1,
        generation_ms=5,
        nsfw=True,
        blocked=True,
    )

    found = await cache(db).lookup(key_for(project.id))
    assert (found.nsfw, found.blocked) == (True, True)


async def test_of_many_replicas_asking_at_once_exactly_one_claims_and_the_rest_get_its_result(db):
    project = await project_with_owner(db)
    replicas = [Database(db.url) for _ in range(4)]
    caches = [cache(replica) for replica in replicas]
    key = key_for(project.id)
    try:
        outcomes = [
            asyncio.ensure_future(caches[i % 4].lookup_or_claim(key=key, project_id=project.id)) for i in range(10)
        ]
        await asyncio.wait(outcomes, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        # Give the others time to get past their own claim attempts: they must all be waiting.
        await asyncio.sleep(0.5)
        claims = [task.result() for task in outcomes if task.done()]
        assert len(claims) == 1 and isinstance(claims[0], Claim)
        await ready(caches[0], claims[0])
        rows = await asyncio.gather(*outcomes)
    finally:
        await asyncio.gather(*(replica.dispose() for replica in replicas))
    waited = [row for row in rows if not isinstance(row, Claim)]
    assert len(waited) == 9 and all(row.status == "ready" and row.storage_key == "images/x.webp" for row in waited)


class ObservedImageCache(ImageCache):
    """The real cache, telling the test when a request found the key held and began to wait."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.someone_waits = asyncio.Event()

    async def _try_claim(self, **kwargs) -> Claim | None:
        claim = await super()._try_claim(**kwargs)
        if claim is None:
            self.someone_waits.set()
        return claim


async def test_waiters_see_the_failure_and_the_next_request_claims_again(db):
    project = await project_with_owner(db)
    image_cache = ObservedImageCache(db=db, clock=SystemClock(), lease_s=60, wait_s=10, poll_s=0.02)
    key = key_for(project.id)
    claim = await image_cache.lookup_or_claim(key=key, project_id=project.id)
    waiter = asyncio.ensure_future(image_cache.lookup_or_claim(key=key, project_id=project.id))
    # A fixed sleep here failed on a loaded machine: the waiter had not looked yet, so it
    # claimed the failed key itself instead of seeing the failure.
    await asyncio.wait_for(image_cache.someone_waits.wait(), timeout=10)
    await image_cache.abandon(claim, error="model exploded")
    with pytest.raises(GenerationFailed, match="model exploded"):
        await waiter
    assert isinstance(await image_cache.lookup_or_claim(key=key, project_id=project.id), Claim)


async def test_a_lapsed_lease_is_taken_over(db):
    project = await project_with_owner(db)
    image_cache = cache(db, lease_s=0.2)
    key = key_for(project.id)
    assert isinstance(await image_cache.lookup_or_claim(key=key, project_id=project.id), Claim)
    # The claimant's replica "died": after the lease, the next request generates instead.
    taken = await asyncio.wait_for(image_cache.lookup_or_claim(key=key, project_id=project.id), timeout=5)
    assert isinstance(taken, Claim)


async def test_a_waiter_gives_up_after_its_bounded_wait(db):
    project = await project_with_owner(db)
    image_cache = cache(db, wait_s=0.2)
    key = key_for(project.id)
    await image_cache.lookup_or_claim(key=key, project_id=project.id)
    with pytest.raises(GenerationFailed, match="still generating"):
        await image_cache.lookup_or_claim(key=key, project_id=project.id)


async def test_a_forgotten_entry_is_generated_again(db):
    project = await project_with_owner(db)
    image_cache = cache(db)
    key = key_for(project.id)
    await ready(image_cache, await image_cache.lookup_or_claim(key=key, project_id=project.id))
    assert not isinstance(await image_cache.lookup_or_claim(key=key, project_id=project.id), Claim)
    await image_cache.forget(key, storage_key="images/x.webp")
    assert isinstance(await image_cache.lookup_or_claim(key=key, project_id=project.id), Claim)


async def test_a_released_key_is_taken_over_by_a_waiter_instead_of_failing(db):
    project = await project_with_owner(db)
    image_cache = ObservedImageCache(db=db, clock=SystemClock(), lease_s=60, wait_s=10, poll_s=0.02)
    key = key_for(project.id)
    claim = await image_cache.lookup_or_claim(key=key, project_id=project.id)
    waiter = asyncio.ensure_future(image_cache.lookup_or_claim(key=key, project_id=project.id))
    await asyncio.wait_for(image_cache.someone_waits.wait(), timeout=10)
    # Every client of the claimant hung up: the waiter on another replica generates instead.
    await image_cache.release(claim)
    assert isinstance(await asyncio.wait_for(waiter, timeout=10), Claim)


async def test_lookup_answers_only_ready_entries(db):
    project = await project_with_owner(db)
    image_cache = cache(db)
    key = key_for(project.id)
    assert await image_cache.lookup(key) is None
    claim = await image_cache.lookup_or_claim(key=key, project_id=project.id)
    assert await image_cache.lookup(key) is None
    await ready(image_cache, claim)
    assert (await image_cache.lookup(key)).storage_key == "images/x.webp"


async def test_forgetting_a_stale_object_keeps_an_entry_regenerated_meanwhile(db):
    project = await project_with_owner(db)
    here, elsewhere = cache(db), cache(db)
    key = key_for(project.id)
    await ready(here, await here.lookup_or_claim(key=key, project_id=project.id))
    assert (await here.lookup(key)).storage_key == "images/x.webp"
    # Another replica found the object gone and regenerated the entry under a new object.
    await elsewhere.forget(key, storage_key="images/x.webp")
    await elsewhere.complete(
        await elsewhere.lookup_or_claim(key=key, project_id=project.id),
        storage_key="images/y.webp",
        content_type="image/webp",
        etag='"f"',
        model="tiny-sd",
        seed=1,
        generation_ms=5,
    )
    # This replica still remembers the old object; when it finds it gone, the new entry survives.
    await here.forget(key, storage_key="images/x.webp")
    assert (await here.lookup(key)).storage_key == "images/y.webp"


async def test_a_claim_cancelled_at_any_point_leaves_the_key_free(db):
    # The waiters hung up while this request was claiming: a claim committed as the task was
    # cancelled must not stay pending for a whole lease, failing every request for the key.
    project = await project_with_owner(db)
    image_cache = cache(db)
    # A claim takes a few hundred turns of the event loop (the driver works in a thread): cancel
    # it after every few turns, so some cancellations land while its insert commits.
    for loop_turns in range(0, 800, 8):
        key = key_for(project.id, prompt=f"cancelled after {loop_turns} turns")
        attempt = asyncio.ensure_future(image_cache.lookup_or_claim(key=key, project_id=project.id))
        for _ in range(loop_turns):
            await asyncio.sleep(0)
        attempt.cancel()
        outcome = (await asyncio.gather(attempt, return_exceptions=True))[0]
        if isinstance(outcome, Claim):
            await image_cache.release(outcome)
        try:
            await asyncio.wait_for(cache(db, wait_s=0.2).lookup_or_claim(key=key, project_id=project.id), 5)
        except GenerationFailed:
            pytest.fail(f"cancelled after {loop_turns} turns of the loop, the key stayed claimed")
