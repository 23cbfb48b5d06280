"""Hot objects kept in this process's memory in front of the object store.

An object never changes under its key (keys are random and never reused), so bytes read once
can be answered again without the store: a GET-image cache hit or a `/files/` download then
costs no thread hop, file read or S3 request. The only change an object sees is its deletion:
`delete` through this process drops the bytes at once; a deletion through another process
(another ingress replica) is seen when the bytes are read again, at most `max_age_s` later.
"""

import asyncio
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from serve_app.storage.base import ObjectStore, StoredObject


@dataclass(frozen=True)
class _Held:
    stored: StoredObject
    read_at: float


class MemoryCachedStore:
    """`store` with the most recently read objects, up to `max_bytes` in all, held in memory."""

    def __init__(
        self,
        store: ObjectStore,
        *,
        max_bytes: int,
        max_age_s: float,
        monotonic: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.max_bytes = max_bytes
        self._max_age_s = max_age_s
        self._monotonic = monotonic
        self._held: OrderedDict[str, _Held] = OrderedDict()
        self._reading: dict[str, asyncio.Task[StoredObject]] = {}
        self.held_bytes = 0

    async def get(self, key: str) -> StoredObject:
        held = self._held.get(key)
        if held is not None and self._monotonic() - held.read_at <= self._max_age_s:
            self._held.move_to_end(key)
            return held.stored
        self.drop(key)
        # One read per key at a time: when hot bytes age out under load, every request in flight
        # would otherwise read the same object at once.
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.create_task(self._read(key))
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: a request that leaves does not cancel the read the others wait for.
        return await asyncio.shield(reading)

    async def _read(self, key: str) -> StoredObject:
        this = asyncio.current_task()
        try:
            stored = await self.store.get(key)
            # Not when `delete` came while reading: the bytes read may be gone from the store.
            if self._reading.get(key) is this:
                self._hold(key, stored)
            return stored
        finally:
            if self._reading.get(key) is this:
                del self._reading[key]

    def _hold(self, key: str, stored: StoredObject) -> None:
        size = len(stored.data)
        # An object larger than the whole budget would only flush everything else out.
        if size > self.max_bytes:
            return
        self.drop(key)
        self._held[key] = _Held(stored, self._monotonic())
        self.held_bytes += size
        while self.held_bytes > self.max_bytes:
            _, oldest = self._held.popitem(last=False)
            self.held_bytes -= len(oldest.stored.data)

    def drop(self, key: str) -> None:
        """Forgets the bytes held under `key`, if any."""
        held = self._held.pop(key, None)
        if held is not None:
            self.held_bytes -= len(held.stored.data)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await self.store.put(key, data, content_type=content_type)

    async def delete(self, key: str) -> None:
        self._reading.pop(key, None)
        self.drop(key)
        await self.store.delete(key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        return await self.store.list_keys(prefix)

    def url(self, key: str) -> str:
        return self.store.url(key)

    async def prepare(self) -> None:
        await self.store.prepare()

    async def check(self) -> None:
        await self.store.check()
