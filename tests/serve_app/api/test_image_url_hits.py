"""GET-image cache hits in process (the FastAPI app around a real AppState on SQLite and a local
store; the model handle answers with a fixed PNG): what a replica keeps in memory for hits, and
the checks that still refuse on a hit once it reads the project again."""

import io
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlmodel import col, select

from deployments.protocol import GenerationResult
from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from serve_app.db.models import Image as ImageRow
from serve_app.db.models import Project
from serve_app.services.projects import create_project, update_project
from serve_app.services.signing import signed_query
from serve_app.services.users import find_user, set_suspended
from tests.factories import ManualClock, app_args, user_with_key

QUERY = "prompt=a%20lighthouse&seed=1&format=png"


class FixedImageHandle:
    """Stands in for the model deployment's handle: every call answers one fixed PNG at once."""

    def __init__(self):
        buffer = io.BytesIO()
        Image.new("RGB", (64, 64), "teal").save(buffer, format="PNG")
        self.image = buffer.getvalue()
        self.generate = self
        self.calls = 0

    def remote(self, params):
        self.calls += 1
        return self._answer(params)

    async def _answer(self, params) -> GenerationResult:
        return GenerationResult(
            image=self.image,
            content_type="image/png",
            width=params.width,
            height=params.height,
            seed=params.seed,
            inference_seconds=0.0,
        )


class Hits:
    def __init__(self, state: AppState, http: httpx.AsyncClient, model: FixedImageHandle, clock: ManualClock):
        self.state, self.http, self.model, self.clock = state, http, model, clock

    async def project(self, **settings) -> tuple[Project, str]:
        """A new project and its owner's API key."""
        user_id, key = await user_with_key(self.state.db, config=self.state.config)
        owner = await find_user(db=self.state.db, name_or_id=str(user_id))
        return await create_project(db=self.state.db, slug=f"p-{secrets.token_hex(5)}", user=owner, **settings), key

    async def get(self, project: Project, query: str = QUERY, **headers: str) -> httpx.Response:
        return await self.http.get(f"/p/{project.slug}/image?{query}", headers=headers)

    def stored_files(self) -> list[Path]:
        return [path for path in Path(self.state.config.storage.local_dir).rglob("*.png")]


async def hits_app(tmp_path: Path, **overrides) -> AsyncIterator[Hits]:
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), **overrides))
    clock = ManualClock(datetime(2026, 11, 27, 12, tzinfo=UTC))
    model = FixedImageHandle()
    state = AppState.build(config, model_handles={"tiny-sd": model}, clock=clock)
    await state.startup()
    transport = httpx.ASGITransport(app=create_app(state))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Hits(state, http, model, clock)
    await state.shutdown()


@pytest.fixture
async def hits(tmp_path) -> AsyncIterator[Hits]:
    async for app in hits_app(tmp_path):
        yield app


@pytest.fixture
async def hits_without_memory(tmp_path) -> AsyncIterator[Hits]:
    async for app in hits_app(tmp_path, storage={"local_dir": f"{tmp_path}/files", "memory_cache_bytes": 0}):
        yield app


def assert_refused(response: httpx.Response, code: str) -> None:
    assert (response.status_code, response.headers.get("x-error-code")) == (403, code), response.headers


async def test_a_hit_once_read_is_answered_from_memory_without_the_store(hits):
    project, _ = await hits.project()
    miss = await hits.get(project)
    await hits.get(project)  # the first hit reads the store
    for path in hits.stored_files():
        path.unlink()  # behind the store's back: only a read of the store would notice

    hit = await hits.get(project)

    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert hit.content == miss.content == hits.model.image and hits.model.calls == 1


async def test_without_the_memory_a_hit_whose_file_is_gone_generates_again(hits_without_memory):
    hits = hits_without_memory
    project, _ = await hits.project()
    await hits.get(project)
    await hits.get(project)
    for path in hits.stored_files():
        path.unlink()

    again = await hits.get(project)

    assert again.headers["x-cache"] == "MISS" and hits.model.calls == 2


async def test_an_image_deleted_through_the_api_is_not_served_from_memory(hits):
    project, key = await hits.project()
    await hits.get(project)
    assert (await hits.get(project)).headers["x-cache"] == "HIT"  # its bytes are in memory now
    async with hits.state.db.read() as session:
        image_id = (await session.exec(select(ImageRow.id).where(col(ImageRow.user_id) == project.user_id))).one()

    deleted = await hits.http.delete(f"/api/v1/images/{image_id}", headers={"Authorization": f"Bearer {key}"})
    again = await hits.get(project)

    assert deleted.status_code == 200
    assert again.headers["x-cache"] == "MISS" and hits.model.calls == 2


async def test_a_suspended_owner_is_refused_on_a_hit_once_the_project_is_read_again(hits):
    project, _ = await hits.project()
    await hits.get(project)
    await set_suspended(db=hits.state.db, user_id=project.user_id, suspended=True)

    within = await hits.get(project)
    hits.clock.advance(seconds=hits.state.config.project_reuse_s, milliseconds=1)
    after = await hits.get(project)

    assert within.headers["x-cache"] == "HIT"
    assert_refused(after, "LIMIT")


async def test_new_allowed_origins_refuse_other_pages_on_a_hit(hits):
    project, _ = await hits.project()
    await hits.get(project, Referer="https://other.example/")
    await update_project(db=hits.state.db, project=project, origins=["https://shop.example"], require_signature=False)
    hits.clock.advance(seconds=2)

    assert_refused(await hits.get(project, Referer="https://other.example/"), "REFERRER_NOT_ALLOWED")
    allowed = await hits.get(project, Referer="https://shop.example/page")
    assert allowed.headers["x-cache"] == "HIT"


async def test_a_project_that_starts_requiring_signatures_refuses_unsigned_hits(hits):
    project, _ = await hits.project()
    await hits.get(project)
    await update_project(db=hits.state.db, project=project, origins=[], require_signature=True)
    hits.clock.advance(seconds=2)

    assert_refused(await hits.get(project), "SIGNATURE_INVALID")
    signed = await hits.get(project, signed_query(project.secret, QUERY))
    # `sig` is no part of the cache key: the signed URL is the same image.
    assert signed.status_code == 200 and signed.headers["x-cache"] == "HIT"
