"""A replica's recent reads: reused within `reuse_s`, read again after it, one read per key at a
time, failures never kept."""

import asyncio
from datetime import UTC, datetime

import pytest

from serve_app.services.recent import Recent
from tests.factories import ManualClock


class CountedReads:
    """A read that counts its calls and answers the call number."""

    def __init__(self):
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(0)
        return self.calls


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 11, 27, 12, tzinfo=UTC))


async def test_a_value_is_reused_for_reuse_s_then_read_again(clock):
    recent: Recent[str, int] = Recent(reuse_s=1, clock=clock)
    read = CountedReads()
    assert await recent.get("k", read) == 1
    clock.advance(seconds=1)
    assert await recent.get("k", read) == 1
    clock.advance(milliseconds=1)
    assert await recent.get("k", read) == 2


async def test_clear_makes_the_next_request_read(clock):
    recent: Recent[str, int] = Recent(reuse_s=60, clock=clock)
    read = CountedReads()
    await recent.get("k", read)
    recent.clear()
    assert await recent.get("k", read) == 2


async def test_with_no_reuse_every_request_reads(clock):
    recent: Recent[str, int] = Recent(reuse_s=0, clock=clock)
    read = CountedReads()
    assert [await recent.get("k", read) for _ in range(3)] == [1, 2, 3]


async def test_requests_that_arrive_together_share_one_read(clock):
    recent: Recent[str, int] = Recent(reuse_s=1, clock=clock)
    read = CountedReads()
    assert await asyncio.gather(*(recent.get("k", read) for _ in range(10))) == [1] * 10
    assert read.calls == 1


async def test_a_failed_read_is_not_kept(clock):
    recent: Recent[str, int] = Recent(reuse_s=60, clock=clock)

    async def refused() -> int:
        raise PermissionError("no")

    with pytest.raises(PermissionError):
        await recent.get("k", refused)
    assert await recent.get("k", CountedReads()) == 1
