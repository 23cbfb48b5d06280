"""`GET /p/{project}/image`: authorize the URL, then answer from the cache or generate once
(identical concurrent requests coalesced), billed to the project's owner."""

import asyncio
import hashlib
import secrets
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlsplit

from serve_app import metrics
from serve_app.config import ModelConfig
from serve_app.db.models import Image, Project, User
from serve_app.db.session import Database
from serve_app.errors import ReferrerNotAllowed
from serve_app.schemas.generate import MAX_SEED
from serve_app.schemas.image import ImageQuery
from serve_app.services import signing
from serve_app.services.accounting import Accounting
from serve_app.services.clock import Clock
from serve_app.services.generation import publish_image
from serve_app.services.image_cache import Claim, ImageCache, cache_key
from serve_app.services.projects import find_project, project_owner
from serve_app.services.routing import ModelRouter
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
        self, *, db: Database, store: ObjectStore, clock: Clock, accounting: Accounting, router: ModelRouter, cache: ImageCache
    ):
        self._db = db
        self._store = store
        self._clock = clock
        self._accounting = accounting
        self._router = router
        self._cache = cache
        self._tasks: set[asyncio.Task] = set()

    async def serve(
        self, *, slug: str, query: ImageQuery, raw_query: str, referrer: str | None, request_id: str
    ) -> ImageAnswer:
        """The image for this URL. Raises the ApiError that the placeholder image reports."""
        started = time.monotonic()
        project = await find_project(db=self._db, slug=slug)
        self.authorize(project, raw_query=raw_query, referrer=referrer)
        chain = self._router.chain(route=query.route, model=query.model)
        owner = await project_owner(db=self._db, project=project)
        self._accounting.plan_of(owner)

        generate = partial(self._generate, owner=owner, chain=chain, query=query, request_id=request_id)
        if not query.cache:
            made = await self._detached(generate())
            return self._answer(made, hit=False, fixed=query.seed is not None, started=started)
        target = f"route:{query.route}" if query.route else f"model:{chain[0].slug}"
        key = cache_key(
            project_id=project.id, target=target, prompt=query.normalized_prompt,
            aspect_ratio=query.aspect_ratio, seed=query.seed, fmt=query.format,
        )
        while True:
            found = await self._cache.lookup_or_claim(key=key, project_id=project.id)
            if isinstance(found, Claim):
                metrics.record_cache_lookup(hit=False)
                made = await self._detached(self._fill(found, generate()))
                return self._answer(made, hit=False, fixed=True, started=started)
            try:
                stored = await self._store.get(found.storage_key)
            except ObjectNotFound:
                await self._cache.forget(key)
                continue
            metrics.record_cache_lookup(hit=True)
            return ImageAnswer(
                data=stored.data, content_type=found.content_type, etag=found.etag, model=found.model,
                cache_hit=True, credits=0, elapsed_ms=_ms_since(started), fixed=True,
            )

    def authorize(self, project: Project, *, raw_query: str, referrer: str | None) -> None:
        """SignatureInvalid or ReferrerNotAllowed unless the project's rules admit this URL."""
        if project.require_signature:
            signing.verify(project.secret, raw_query, now=self._clock.now().timestamp())
        if project.origins and origin_of(referrer) not in project.origins:
            raise ReferrerNotAllowed(
                f"project {project.slug!r} serves only pages on {', '.join(project.origins)}; "
                f"this request came from {origin_of(referrer) or 'no page (no Referer)'}"
            )

    async def _detached(self, work: Coroutine[Any, Any, _Generated]) -> _Generated:
        """Runs `work` as its own task: a client that hangs up must not cancel a generation that
        identical requests wait for, nor its refund. The set keeps the task referenced until done."""
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        # Read the outcome even when nobody awaits it any more, so asyncio does not log it as lost.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return await asyncio.shield(task)

    async def _fill(self, claim: Claim, work: Coroutine[Any, Any, _Generated]) -> _Generated:
        try:
            made = await work
        except BaseException as exc:
            await self._cache.abandon(claim, error=getattr(exc, "message", type(exc).__name__))
            raise
        await self._cache.complete(
            claim, storage_key=made.storage_key, content_type=made.content_type, etag=made.etag,
            model=made.model, seed=made.seed, generation_ms=made.generation_ms,
        )
        return made

    async def _generate(
        self, *, owner: User, chain: list[ModelConfig], query: ImageQuery, request_id: str
    ) -> _Generated:
        """Charges the owner the first model's price, runs the chain, stores the image and
        records it; any failure after the debit is refunded exactly once."""
        seed = query.seed if query.seed is not None else secrets.randbelow(MAX_SEED + 1)
        first = query.to_params(chain[0], seed=seed)
        admission = await self._accounting.admit(
            user=owner, correlation_id=request_id, model=chain[0].slug, images=1,
            cost=chain[0].credit_cost(width=first.width, height=first.height),
        )
        started = time.monotonic()
        try:
            served = await self._router.generate_with_fallback(chain, lambda model: query.to_params(model, seed=seed))
            generation_ms = _ms_since(started)
            result, params = served.result, served.params
            _, storage_key = await publish_image(result, store=self._store, enabled=True)
            image = Image(
                id=f"img_{secrets.token_hex(12)}", request_id=request_id, user_id=owner.id,
                model=served.model.slug, prompt=params.prompt, width=params.width, height=params.height,
                num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
                seed=seed, content_type=result.content_type, size_bytes=len(result.image),
                storage_key=storage_key, inference_ms=round(result.inference_seconds * 1000),
            )
            await self._accounting.succeed(admission, records=[image])
        except BaseException as exc:
            await asyncio.shield(self._accounting.fail(admission, error=f"{type(exc).__name__}: {exc}"))
            raise
        return _Generated(
            data=result.image, content_type=result.content_type, etag=strong_etag(result.image),
            model=served.model.slug, seed=seed, storage_key=storage_key, credits=admission.cost,
            generation_ms=generation_ms,
        )

    @staticmethod
    def _answer(made: _Generated, *, hit: bool, fixed: bool, started: float) -> ImageAnswer:
        return ImageAnswer(
            data=made.data, content_type=made.content_type, etag=made.etag, model=made.model,
            cache_hit=hit, credits=made.credits, elapsed_ms=_ms_since(started), fixed=fixed,
        )


def _ms_since(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
