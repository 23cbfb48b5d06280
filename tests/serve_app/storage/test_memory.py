"""Hot objects held in memory in front of a real local store: bounded by bytes, dropped on delete,
read again once older than their max age."""

import asyncio

import pytest

from serve_app.storage.base import ObjectNotFound, StoredObject
from serve_app.storage.factory import build_object_store
from serve_app.storage.local import LocalObjectStore
from serve_app.storage.memory import MemoryCachedStore
from tests.factories import make_config


class CountingGetsLocalStore(LocalObjectStore):
    """The real local store, counting the reads that reach it."""

    def __init__(self, root):
        super().__init__(root, public_base_url="http://127.0.0.1:8000")
        self.gets = 0

    async def get(self, key: str) -> StoredObject:
        self.gets += 1
        return await super().get(key)


class Seconds:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def held(tmp_path, *, max_bytes: int = 1000, max_age_s: float = 10, clock=None):
    inner = CountingGetsLocalStore(tmp_path)
    return inner, MemoryCachedStore(inner, max_bytes=max_bytes, max_age_s=max_age_s, monotonic=clock or Seconds())


def key(name: str) -> str:
    return f"images/2026/11/{name}.png"


async def test_a_second_read_is_answered_from_memory_without_the_store(tmp_path):
    inner, store = held(tmp_path)
    await store.put(key("a"), b"x" * 100, content_type="image/png")

    first = await store.get(key("a"))
    second = await store.get(key("a"))

    assert first == second == StoredObject(b"x" * 100, "image/png")
    assert inner.gets == 1


async def test_the_held_bytes_stay_within_the_bound_and_the_least_recently_read_go_first(tmp_path):
    inner, store = held(tmp_path, max_bytes=1000)
    for name in "abc":
        await store.put(key(name), name.encode() * 400, content_type="image/png")
    await store.get(key("a"))
    await store.get(key("b"))
    await store.get(key("a"))  # a is now the most recently read
    await store.get(key("c"))  # 1200 bytes would be over the bound: b goes
    assert store.held_bytes == 800 <= store.max_bytes
    assert inner.gets == 3

    await store.get(key("a"))
    await store.get(key("c"))
    assert inner.gets == 3
    await store.get(key("b"))
    assert inner.gets == 4


async def test_an_object_larger_than_the_bound_is_read_through_and_not_held(tmp_path):
    inner, store = held(tmp_path, max_bytes=1000)
    await store.put(key("small"), b"s" * 10, content_type="image/png")
    await store.put(key("big"), b"b" * 1001, content_type="image/png")
    await store.get(key("small"))

    assert (await store.get(key("big"))).data == b"b" * 1001
    await store.get(key("big"))
    assert store.held_bytes == 10 and inner.gets == 3


async def test_a_delete_drops_the_bytes_at_once(tmp_path):
    _, store = held(tmp_path)
    await store.put(key("a"), b"x", content_type="image/png")
    await store.get(key("a"))

    await store.delete(key("a"))

    assert store.held_bytes == 0
    with pytest.raises(ObjectNotFound):
        await store.get(key("a"))


async def test_bytes_older_than_the_max_age_are_read_again_so_a_deletion_elsewhere_is_seen(tmp_path):
    clock = Seconds()
    inner, store = held(tmp_path, max_age_s=10, clock=clock)
    await store.put(key("a"), b"x", content_type="image/png")
    await store.get(key("a"))
    await inner.delete(key("a"))  # another replica deletes it, past this one's memory

    clock.now = 10
    assert (await store.get(key("a"))).data == b"x"
    clock.now = 10.5
    with pytest.raises(ObjectNotFound):
        await store.get(key("a"))
    assert store.held_bytes == 0


def test_the_configured_store_holds_hot_objects_unless_the_budget_is_zero(tmp_path):
    store = build_object_store(make_config(storage={"local_dir": str(tmp_path)}))
    assert isinstance(store, MemoryCachedStore) and isinstance(store.store, LocalObjectStore)
    assert store.max_bytes == 128 * 2**20
    off = build_object_store(make_config(storage={"local_dir": str(tmp_path), "memory_cache_bytes": 0}))
    assert isinstance(off, LocalObjectStore)


async def test_requests_that_arrive_together_share_one_read_of_the_store(tmp_path):
    inner, store = held(tmp_path)
    await store.put(key("a"), b"x" * 100, content_type="image/png")

    answers = await asyncio.gather(*(store.get(key("a")) for _ in range(10)))

    assert {answer.data for answer in answers} == {b"x" * 100} and inner.gets == 1
    with pytest.raises(ObjectNotFound):
        await asyncio.gather(*(store.get(key("missing")) for _ in range(3)))
    assert inner.gets == 2


async def test_bytes_read_while_the_object_is_deleted_are_not_held(tmp_path):
    _, store = held(tmp_path)
    await store.put(key("a"), b"x", content_type="image/png")

    reading = asyncio.ensure_future(store.get(key("a")))
    await asyncio.sleep(0)  # the read has started
    await store.delete(key("a"))
    await asyncio.gather(reading, return_exceptions=True)

    assert store.held_bytes == 0
    with pytest.raises(ObjectNotFound):
        await store.get(key("a"))
