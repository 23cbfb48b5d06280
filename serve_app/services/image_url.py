"""`GET /p/{project}/image`: authorize the URL, then answer from the cache or generate once
(identical concurrent requests coalesced), billed to the project's owner."""

import asyncio
import contextvars
import hashlib
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from serve_app import metrics
from serve_app.config import ModelConfig
from serve_app.db.models import CachedImage, Project, User
from serve_app.errors import ReferrerNotAllowed
from serve_app.fitting import seed_or_random
from serve_app.schemas.image_url import ImageQuery
from serve_app.services import signing
from serve_app.services.accounting import Accounting
from serve_app.services.chains import ModelChains
from serve_app.services.clock import Clock
from serve_app.services.image_url_cache import Claim, ImageCache, cache_key
from serve_app.services.projects import RecentProjects
from serve_app.services.publish import publish
from serve_app.services.safety import NOT_JUDGED, Verdict, screen
from serve_app.storage.base import ObjectNotFound, ObjectStore


@dataclass(frozen=True)
class ImageAnswer:
    """An image and the facts its response headers report."""

    data: bytes
    content_type: str
    etag: str
    model: str
    cache_hit: bool
    credits: int
    elapsed_ms: int
    fixed: bool
    """The URL will keep answering these bytes (a cache entry, or a seeded request)."""
    verdict: Verdict = NOT_JUDGED


@dataclass(frozen=True)
class _Ready:
    """A ready cache entry's fields, which `ImageCache.complete` always fills."""

    storage_key: str
    content_type: str
    etag: str
    model: str
    seed: int

    @classmethod
    def of(cls, row: CachedImage) -> "_Ready":
        assert row.storage_key is not None and row.content_type is not None and row.etag is not None
        assert row.model is not None and row.seed is not None
        return cls(row.storage_key, row.content_type, row.etag, row.model, row.seed)


@dataclass(frozen=True)
class _Generated:
    data: bytes
    content_type: str
    etag: str
    model: str
    seed: int
    storage_key: str
    credits: int
    generation_ms: int
    cached: bool = False
    """Read from a cache entry another replica filled, not generated here."""
    verdict: Verdict = NOT_JUDGED


@dataclass
class _Shared:
    """One generation and how many requests on this replica wait for it."""

    key: str
    task: asyncio.Task
    waiters: int = 0
    delivered: bool = False


def strong_etag(data: bytes) -> str:
    return f'"{hashlib.sha256(data).hexdigest()[:32]}"'


def origin_of(url: str | None) -> str | None:
    """`https://example.com` from a Referer or Origin header; None when there is none."""
    try:
        parts = urlsplit(url or "")
        port = parts.port
    except ValueError:  # a malformed header (bad port, bad IPv6 literal) names no origin
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname.lower()}{f':{port}' if port else ''}"


class ImageUrlService:
    def __init__(
        self,
        *,
        store: ObjectStore,
        clock: Clock,
        accounting: Accounting,
        chains: ModelChains,
        cache: ImageCache,
        projects: RecentProjects,
    ):
        self._store = store
        self._clock = clock
        self._accounting = accounting
        self._chains = chains
        self._cache = cache
        self._projects = projects
        # In-flight generations by cache key: identical requests on this replica share one.
        self._shared: dict[str, _Shared] = {}

    async def serve(
        self, *, slug: str, query: ImageQuery, raw_query: str, referrer: str | None, request_id: str
    ) -> ImageAnswer:
        """The image for this URL. Raises the ApiError that the placeholder image reports."""
        started = time.monotonic()
        project, owner = await self._projects.find(slug)
        assert project.id is not None  # read from the database
        self.authorize(project, raw_query=raw_query, referrer=referrer)
        chain = self._chains.models_for(chain=query.route, model=query.model)
        # Checked before the cache: an unknown adapter is a 400 even where the URL was cached.
        adapters = query.adapters_for(chain[0])
        self._accounting.plan_of(owner)

        generate = partial(self._generate, owner=owner, chain=chain, query=query, request_id=request_id)
        if not query.cache:
            # Nobody else waits for this one: a client that hangs up stops it (and is refunded).
            made = await generate()
            return self._answer(made, hit=False, fixed=query.seed is not None, started=started)
        target = f"route:{query.route}" if query.route else f"model:{chain[0].slug}"
        key = cache_key(
            project_id=project.id,
            target=target,
            prompt=query.normalized_prompt,
            aspect_ratio=query.aspect_ratio,
            seed=query.seed,
            fmt=query.format,
            adapters=adapters,
        )
        while True:
            shared = self._shared.get(key)
            if shared is None:
                found = await self._cache.lookup(key)
                if found is not None:
                    ready = _Ready.of(found)
                    try:
                        stored = await self._store.get(ready.storage_key)
                    except ObjectNotFound:
                        await self._cache.forget(key, storage_key=ready.storage_key)
                        continue
                    metrics.record_cache_lookup(hit=True)
                    return ImageAnswer(
                        data=stored.data,
                        content_type=ready.content_type,
                        etag=ready.etag,
                        model=ready.model,
                        cache_hit=True,
                        credits=0,
                        elapsed_ms=_ms_since(started),
                        fixed=True,
                        verdict=Verdict(nsfw=found.nsfw, blocked=found.blocked),
                    )
                # Checked again: another request on this replica may have started it meanwhile.
                shared = self._shared.get(key) or self._share(key, self._claim_and_fill(key, project.id, generate))
            made, first = await self._wait_for(shared)
            # One answer per generation reports the miss and its charge; the others are hits.
            hit = made.cached or not first
            metrics.record_cache_lookup(hit=hit)
            return self._answer(made, hit=hit, fixed=True, started=started)

    def authorize(self, project: Project, *, raw_query: str, referrer: str | None) -> None:
        """SignatureInvalid or ReferrerNotAllowed unless the project's rules admit this URL."""
        if project.require_signature:
            signing.verify(project.secret, raw_query, now=self._clock.now().timestamp())
        if project.origins and origin_of(referrer) not in project.origins:
            raise ReferrerNotAllowed(
                f"project {project.slug!r} serves only pages on {', '.join(project.origins)}; "
                f"this request came from {origin_of(referrer) or 'no page (no Referer)'}"
            )

    def _share(self, key: str, work: Coroutine[Any, Any, _Generated]) -> "_Shared":
        """Starts `work` as the one generation that every request for `key` on this replica waits for.

        It runs in a context of its own: Serve cancels the model calls a request made when that
        request is cancelled, and this work belongs to every waiter, not to the one that started it.
        """
        shared = _Shared(key, asyncio.create_task(work, context=contextvars.Context()))
        self._shared[key] = shared
        shared.task.add_done_callback(lambda _: self._unshare(shared))
        # Read the outcome even when nobody awaits it any more, so asyncio does not log it as lost.
        shared.task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return shared

    async def _wait_for(self, shared: "_Shared") -> tuple[_Generated, bool]:
        """The shared generation's outcome, and whether this waiter is the first to receive it (the
        one that reports its charge). The generation is cancelled when its last waiter leaves."""
        shared.waiters += 1
        try:
            made = await asyncio.shield(shared.task)
        finally:
            shared.waiters -= 1
            if shared.waiters == 0 and not shared.task.done():
                # Unshared first: a request arriving while it winds down starts afresh.
                self._unshare(shared)
                shared.task.cancel()
        first, shared.delivered = not shared.delivered, True
        return made, first

    def _unshare(self, shared: "_Shared") -> None:
        if self._shared.get(shared.key) is shared:
            del self._shared[shared.key]

    async def _claim_and_fill(
        self, key: str, project_id: int, generate: Callable[[], Coroutine[Any, Any, _Generated]]
    ) -> _Generated:
        """Generates the image for `key` and caches it, or, when another replica holds the key,
        waits for its entry. A generation cancelled because nobody waits any more releases the
        key, so that requests waiting on other replicas take it over instead of failing."""
        while not isinstance(found := await self._cache.lookup_or_claim(key=key, project_id=project_id), Claim):
            ready = _Ready.of(found)
            try:
                stored = await self._store.get(ready.storage_key)
            except ObjectNotFound:
                await self._cache.forget(key, storage_key=ready.storage_key)
                continue
            return _Generated(
                data=stored.data,
                content_type=ready.content_type,
                etag=ready.etag,
                model=ready.model,
                seed=ready.seed,
                storage_key=ready.storage_key,
                credits=0,
                generation_ms=found.generation_ms or 0,
                cached=True,
                verdict=Verdict(nsfw=found.nsfw, blocked=found.blocked),
            )
        try:
            made = await generate()
        except asyncio.CancelledError:
            await asyncio.shield(self._cache.release(found))
            raise
        except BaseException as exc:
            await asyncio.shield(self._cache.abandon(found, error=getattr(exc, "message", type(exc).__name__)))
            raise
        await self._cache.complete(
            found,
            storage_key=made.storage_key,
            content_type=made.content_type,
            etag=made.etag,
            model=made.model,
            seed=made.seed,
            generation_ms=made.generation_ms,
            nsfw=made.verdict.nsfw,
            blocked=made.verdict.blocked,
        )
        return made

    async def _generate(
        self, *, owner: User, chain: list[ModelConfig], query: ImageQuery, request_id: str
    ) -> _Generated:
        """Charges the owner the first model's price, runs the chain, stores the image and
        records it; any failure after the debit is refunded exactly once, and so is an image
        the serving model's safety policy withholds (a placeholder is stored in its place)."""
        assert owner.id is not None  # the project's owner, read from the database
        seed = seed_or_random(query.seed)
        first = query.to_params(chain[0], seed=seed)
        admission = await self._accounting.admit(
            user=owner,
            correlation_id=request_id,
            model=chain[0].slug,
            images=1,
            cost=chain[0].credit_cost(width=first.width, height=first.height, adapters=[s for s, _ in first.adapters]),
        )
        started = time.monotonic()
        try:
            served = await self._chains.generate_with_fallback(chain, lambda model: query.to_params(model, seed=seed))
            generation_ms = _ms_since(started)
            verdict = Verdict.of(served.model, served.result)
            result = screen(served.result, verdict)
            image = await publish(
                result,
                params=served.params,
                model=served.model.slug,
                user_id=owner.id,
                request_id=request_id,
                store=self._store,
                verdict=verdict,
            )
            withheld = admission.cost if verdict.blocked else 0
            await self._accounting.succeed(admission, records=[image.row], refund=withheld)
        except BaseException as exc:
            await asyncio.shield(self._accounting.fail(admission, error=f"{type(exc).__name__}: {exc}"))
            raise
        assert image.key is not None  # publish stored it: storage is on here
        return _Generated(
            data=result.image,
            content_type=result.content_type,
            etag=strong_etag(result.image),
            model=served.model.slug,
            seed=seed,
            storage_key=image.key,
            credits=0 if verdict.blocked else admission.cost,
            generation_ms=generation_ms,
            verdict=verdict,
        )

    @staticmethod
    def _answer(made: _Generated, *, hit: bool, fixed: bool, started: float) -> ImageAnswer:
        return ImageAnswer(
            data=made.data,
            content_type=made.content_type,
            etag=made.etag,
            model=made.model,
            cache_hit=hit,
            credits=0 if hit else made.credits,
            elapsed_ms=_ms_since(started),
            fixed=fixed,
            verdict=made.verdict,
        )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
