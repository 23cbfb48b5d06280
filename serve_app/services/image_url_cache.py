"""The GET-image cache on shared state. One row per cache key doubles as the lock that
coalesces identical requests across every ingress replica: the first request inserts it as
`pending` with a lease and generates; the others poll the row until it is `ready` (or `failed`).
A lease that lapses (its replica died) lets the next request take over."""

import asyncio
import hashlib
import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from serve_app.db.models import CachedImage, utcnow
from serve_app.db.session import Database, rows_affected, undone_if_cancelled
from serve_app.errors import GenerationFailed
from serve_app.services.clock import Clock

# Ready entries one replica remembers (a few hundred bytes each).
_READY_REMEMBERED = 10_000


def cache_key(
    *,
    project_id: int,
    target: str,
    prompt: str,
    aspect_ratio: str,
    seed: int | None,
    fmt: str,
    adapters: tuple[tuple[str, float], ...] = (),
) -> str:
    """SHA-256 over the canonical parameters; `target` is `model:SLUG` or `route:NAME`, `adapters`
    the (slug, weight) pairs with defaults applied, sorted."""
    parts: list = [project_id, target, prompt, aspect_ratio, seed, fmt]
    if adapters:
        # Only when there are some: the keys of entries cached without adapters stay what they were.
        parts.append([list(pair) for pair in adapters])
    canonical = json.dumps(parts, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Claim:
    """This request owns the key and must end it with `complete` or `abandon`."""

    key: str


class ImageCache:
    def __init__(self, *, db: Database, clock: Clock, lease_s: float, wait_s: float, poll_s: float = 0.1):
        self._db = db
        self._clock = clock
        self._lease = timedelta(seconds=lease_s)
        self._wait_s = wait_s
        self._poll_s = poll_s
        # Ready entries this replica has read, most recent last. A ready entry never changes:
        # it is only ever deleted (`forget`, when its object is gone), which the read of that
        # object finds out, so a remembered entry is never wrong for longer than one request.
        self._ready: OrderedDict[str, CachedImage] = OrderedDict()

    async def lookup(self, key: str) -> CachedImage | None:
        """The entry when it is ready: remembered, or one read; never a write (the cache-hit path)."""
        if (row := self._ready.get(key)) is not None:
            self._ready.move_to_end(key)
            return row
        async with self._db.read() as session:
            row = await session.get(CachedImage, key)
        if row is None or row.status != "ready":
            return None
        self._ready[key] = row
        if len(self._ready) > _READY_REMEMBERED:
            self._ready.popitem(last=False)
        return row

    async def lookup_or_claim(self, *, key: str, project_id: int) -> CachedImage | Claim:
        """The ready entry, or a Claim when this request must generate it. Waits (bounded) while
        another request holds the key; GenerationFailed when that one fails or never finishes."""
        deadline = time.monotonic() + self._wait_s
        waited = False
        while True:
            async with self._db.read() as session:
                row = await session.get(CachedImage, key)
            if row is not None and row.status == "ready":
                return row
            if row is not None and row.status == "failed" and waited:
                raise GenerationFailed(f"the identical request this one waited for failed: {row.error}")
            claim = await undone_if_cancelled(
                self._try_claim(key=key, project_id=project_id, exists=row is not None), self._release_any
            )
            if claim is not None:
                return claim
            if time.monotonic() > deadline:
                raise GenerationFailed("an identical request is still generating this image; retry shortly")
            waited = True
            await asyncio.sleep(self._poll_s)

    async def _try_claim(self, *, key: str, project_id: int, exists: bool) -> Claim | None:
        now = self._clock.now()
        lease_until = now + self._lease
        try:
            async with self._db.write() as session:
                if not exists:
                    session.add(
                        CachedImage(key=key, project_id=project_id, status="pending", lease_expires_at=lease_until)
                    )
                    await session.flush()
                    return Claim(key)
                taken = await session.execute(
                    update(CachedImage)
                    .where(
                        col(CachedImage.key) == key,
                        or_(
                            col(CachedImage.status) == "failed",
                            (col(CachedImage.status) == "pending") & (col(CachedImage.lease_expires_at) < now),
                        ),
                    )
                    .values(status="pending", lease_expires_at=lease_until, error=None, updated_at=now)
                )
                return Claim(key) if rows_affected(taken) == 1 else None
        except IntegrityError:
            # Another replica inserted the same key first: it generates, we wait.
            return None

    async def complete(
        self,
        claim: Claim,
        *,
        storage_key: str,
        content_type: str,
        etag: str,
        model: str,
        seed: int,
        generation_ms: int,
        nsfw: bool | None = None,
        blocked: bool = False,
    ) -> None:
        async with self._db.write() as session:
            await session.execute(
                update(CachedImage)
                .where(col(CachedImage.key) == claim.key)
                .values(
                    status="ready",
                    storage_key=storage_key,
                    content_type=content_type,
                    etag=etag,
                    model=model,
                    seed=seed,
                    generation_ms=generation_ms,
                    error=None,
                    updated_at=utcnow(),
                    nsfw=nsfw,
                    blocked=blocked,
                )
            )

    async def abandon(self, claim: Claim, *, error: str) -> None:
        """Waiters see the failure; the next fresh request claims the key again."""
        async with self._db.write() as session:
            await session.execute(
                update(CachedImage)
                .where(col(CachedImage.key) == claim.key, col(CachedImage.status) == "pending")
                .values(status="failed", error=error[:500], updated_at=utcnow())
            )

    async def release(self, claim: Claim) -> None:
        """Gives the key up unfilled (nobody waits for it here any more): a request waiting on
        another replica claims it next, instead of failing."""
        async with self._db.write() as session:
            await session.execute(
                delete(CachedImage).where(col(CachedImage.key) == claim.key, col(CachedImage.status) == "pending")
            )

    async def _release_any(self, claim: Claim | None) -> None:
        if claim is not None:
            await self.release(claim)

    async def forget(self, key: str, *, storage_key: str) -> None:
        """Drops an entry whose stored object (`storage_key`) is gone, so the next request
        regenerates it; an entry already regenerated under another object stays."""
        self._ready.pop(key, None)
        async with self._db.write() as session:
            await session.execute(
                delete(CachedImage).where(col(CachedImage.key) == key, col(CachedImage.storage_key) == storage_key)
            )
