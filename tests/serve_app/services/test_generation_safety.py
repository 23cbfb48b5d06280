"""Safety policies through GenerationService, with the real tiny model judged by the stand-in
checker in this process and the real ledger: what is published, charged and refunded."""

import io

import pytest
from PIL import Image
from sqlmodel import select

from deployments.diffusion.safety import STAND_IN_CHECKER, STAND_IN_MARKER
from serve_app.db.models import UsageRecord
from serve_app.schemas.generate import GenerateRequest
from serve_app.services import credits
from serve_app.services.accounting import Accounting
from serve_app.services.clock import SystemClock
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.services.server_settings import ServerSettings
from serve_app.services.webhooks import WebhookService
from serve_app.storage.local import LocalObjectStore
from tests.factories import checked_balance, make_config, tiny_safety_entry
from tests.serve_app.services.test_generation import InProcessHandle, user_of


@pytest.fixture(scope="module")
def judged(model_cache_dir):
    """tiny-sd whose replica runs the stand-in checker."""
    from deployments.diffusion.backend import DiffusionBackend
    from deployments.diffusion.config import DiffusionConfig

    return DiffusionBackend(
        DiffusionConfig(
            source="builtin:tiny-sd",
            cache_dir=str(model_cache_dir),
            device="cpu",
            num_threads=1,
            safety_checker=STAND_IN_CHECKER,
        )
    )


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "files", public_base_url="https://img.example.com")


def service(db, judged, store) -> GenerationService:
    config = make_config(models=[tiny_safety_entry("flagger", "flag"), tiny_safety_entry("blocker", "block")])
    handle = InProcessHandle(judged)

    async def no_fetch(url: str) -> bytes:
        raise AssertionError("these tests send no image URLs")

    return GenerationService(
        config=config,
        db=db,
        store=store,
        models=ModelClient({"flagger": handle, "blocker": handle}, timeout_s=60),
        accounting=Accounting(db=db, config=config, clock=SystemClock()),
        prompts=PromptService(None, timeout_s=5),
        fetch_image=no_fetch,
        webhooks=WebhookService(db=db, scraper=None, clock=SystemClock()),
        server_settings=ServerSettings(db=db, config=config, clock=SystemClock()),
    )


async def test_blocked_images_are_stored_as_placeholders_and_refunded_once(db, judged, store):
    user = await user_of(db)
    request = GenerateRequest(prompt=f"a fox {STAND_IN_MARKER}", model="blocker", count=2, seed=1)
    data = await service(db, judged, store).generate(user=user, request=request, context=RequestContext("req_b1"))

    assert [(image.nsfw, image.blocked) for image in data.images] == [(True, True), (True, True)]
    for key in await store.list_keys():
        stored = Image.open(io.BytesIO((await store.get(key)).data))
        assert (stored.format, stored.mode, stored.size) == ("PNG", "P", (64, 64))
    assert await checked_balance(db, user.id) == 1000
    kinds = [entry.kind for entry in await credits.history(db=db, user_id=user.id)]
    assert kinds.count("debit") == 1 and kinds.count("refund") == 1
    async with db.read() as session:
        record = (await session.exec(select(UsageRecord).where(UsageRecord.correlation_id == "req_b1"))).one()
    assert record.status == "succeeded"


async def test_flagged_images_are_returned_and_charged(db, judged, store):
    user = await user_of(db)
    generation = service(db, judged, store)
    flagged = await generation.generate(
        user=user,
        request=GenerateRequest(prompt=f"a fox {STAND_IN_MARKER}", model="flagger", seed=1),
        context=RequestContext("req_f1"),
    )
    clean = await generation.generate(
        user=user, request=GenerateRequest(prompt="a fox", model="blocker", seed=1), context=RequestContext("req_f2")
    )

    assert (flagged.images[0].nsfw, flagged.images[0].blocked) == (True, False)
    assert (clean.images[0].nsfw, clean.images[0].blocked) == (False, False)
    for key in await store.list_keys():
        assert Image.open(io.BytesIO((await store.get(key)).data)).mode == "RGB"
    assert await checked_balance(db, user.id) == 998
