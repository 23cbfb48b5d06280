"""Rows an ingress replica read a moment ago, reused instead of read again per request.

What the hot paths read for every request (a key's user, a GET-image project and its owner)
rarely changes, and reading it was most of a cache hit's CPU and a good part of a generation's.
Each replica keeps its last read of a key for `reuse_s`, so a change made elsewhere (another
replica, the CLI, SQL) reaches it within that bound; a change made through this replica clears
what it holds at once.
"""

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from serve_app.services.clock import Clock, SystemClock

# Keys one replica remembers; the oldest read goes first.
_REMEMBERED = 10_000

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Recent(Generic[K, V]):
    """The value read for each key, reused while at most `reuse_s` old; one read per key at a time."""

    def __init__(self, *, reuse_s: float, clock: Clock | None = None):
        self._reuse = timedelta(seconds=reuse_s)
        self._clock = clock or SystemClock()
        self._read: OrderedDict[K, tuple[datetime, V]] = OrderedDict()
        self._reading: dict[K, asyncio.Task[V]] = {}

    async def get(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        """The value reused for `key`, or what `read` returns (and its exception, never kept)."""
        if not self._reuse:
            return await read()
        now = self._clock.now()
        held = self._read.get(key)
        if held is not None and now - held[0] <= self._reuse:
            return held[1]
        # When a read ages out under load, every request in flight would otherwise read the same
        # rows at once. Joining a read that began a moment ago stays within `reuse_s`.
        reading = self._reading.get(key)
        if reading is None:
            reading = self._reading[key] = asyncio.create_task(self._refresh(key, now, read))
            reading.add_done_callback(lambda done: done.cancelled() or done.exception())
        # Shielded: a request that leaves does not cancel the read the others wait for.
        return await asyncio.shield(reading)

    async def _refresh(self, key: K, now: datetime, read: Callable[[], Awaitable[V]]) -> V:
        try:
            value = await read()
        finally:
            del self._reading[key]
        self._read.pop(key, None)
        self._read[key] = (now, value)
        if len(self._read) > _REMEMBERED:
            self._read.popitem(last=False)
        return value

    def clear(self) -> None:
        """Forgets every value: the next request for each key reads it."""
        self._read.clear()
