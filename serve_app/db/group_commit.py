"""Group commit: the database work of concurrent requests runs in shared transactions, so many
requests pay for one commit (dynamic batching, applied to the database).

While one group's transaction runs, newly submitted work queues up and forms the next group, so
a lone request waits for no timer and a busy replica commits large groups. Inside a group every
unit of work runs in its own savepoint: one that raises (a limit reached, credits short) is
rolled back alone and its caller gets the error, while the others commit (a group of one needs
no savepoint: its own transaction rolls back). If the group as a whole cannot commit (a
deadlock, a lost connection), each unit is retried in its own transaction.
"""

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from serve_app.db.session import Database

T = TypeVar("T")
Work = Callable[[AsyncSession], Awaitable[Any]]


@dataclass
class _Unit:
    work: Work
    order: int
    future: asyncio.Future


class GroupCommit:
    def __init__(self, db: Database, *, max_units: int = 128):
        self._db = db
        self._max_units = max_units
        self._queue: list[_Unit] = []
        self._flusher: asyncio.Task | None = None

    async def run(self, work: Callable[[AsyncSession], Awaitable[T]], *, order: int) -> T:
        """`work`'s result once its group has committed (or its error, having changed nothing).
        `order` (the user id) fixes the order units take row locks in, the same in every group,
        so that groups of different replicas cannot deadlock. The unit commits even when the
        caller is cancelled meanwhile."""
        future = asyncio.get_running_loop().create_future()
        # Read the outcome even when the caller has gone, so asyncio does not report it as lost.
        future.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queue.append(_Unit(work=work, order=order, future=future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_queue())
        return await asyncio.shield(future)

    async def _flush_queue(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self._max_units], self._queue[self._max_units :]
            await self._commit(sorted(group, key=lambda unit: unit.order))

    async def _commit(self, group: list[_Unit]) -> None:
        if len(group) == 1:
            await self._commit_alone(group[0])
            return
        outcomes: list[tuple[bool, Any]] = []
        try:
            async with self._db.write() as session:
                for unit in group:
                    try:
                        async with session.begin_nested():
                            outcomes.append((True, await unit.work(session)))
                    except Exception as exc:
                        outcomes.append((False, exc))
        except Exception:
            for unit in group:
                await self._commit([unit])
            return
        for unit, (ok, value) in zip(group, outcomes, strict=True):
            _settle(unit.future, ok=ok, value=value)

    async def _commit_alone(self, unit: _Unit) -> None:
        # No savepoint: when the only unit raises, rolling back its transaction is the same
        # thing, and at low load it saves two statements per request.
        try:
            async with self._db.write() as session:
                value = await unit.work(session)
        except Exception as exc:
            _settle(unit.future, ok=False, value=exc)
        else:
            _settle(unit.future, ok=True, value=value)


def _settle(future: asyncio.Future, *, ok: bool, value: Any) -> None:
    if future.done():
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)
