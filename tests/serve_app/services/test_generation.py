"""GenerationService with the real tiny model in this process, a real database and real stores:
charging, refunds, counts, batches, variants, storage on and off, img2img."""

import asyncio
import base64
import io
import secrets
import threading

import httpx
import pytest
from PIL import Image
from sqlmodel import select

from serve_app.db.models import Image as ImageRow
from serve_app.db.models import UsageRecord
from serve_app.errors import ServiceUnavailable
from serve_app.schemas.generate import BatchRequest, GenerateRequest
from serve_app.services import credits, images
from serve_app.services.accounting import Accounting
from serve_app.services.clock import SystemClock
from serve_app.services.context import RequestContext
from serve_app.services.generation import GenerationService
from serve_app.services.models import ModelClient
from serve_app.services.prompts import PromptService
from serve_app.services.server_settings import ServerSettings
from serve_app.services.users import find_user, set_storage_enabled
from serve_app.services.variants import PRODUCT
from serve_app.services.webhooks import WebhookService
from serve_app.storage.local import LocalObjectStore
from serve_app.storage.s3 import S3ObjectStore
from tests.factories import make_config, user_with_key


class InProcessHandle:
    """The calling convention of a diffusion deployment handle (`generate.remote(params)`),
    served by the real tiny-model backend in this process. Like a replica, it runs one pipeline
    call at a time: a diffusers scheduler keeps per-call state and breaks under concurrent calls."""

    def __init__(self, backend):
        self.generate = self
        self._backend = backend
        self._lock = threading.Lock()

    def _generate_one(self, params):
        with self._lock:
            return self._backend.generate([params])[0]

    def remote(self, params):
        async def run():
            result = await asyncio.to_thread(self._generate_one, params)
            if isinstance(result, Exception):
                raise result
            return result

        return asyncio.ensure_future(run())


@pytest.fixture(scope="module")
def backend(model_cache_dir):
    from deployments.diffusion.backend import DiffusionBackend
    from deployments.diffusion.config import DiffusionConfig

    return DiffusionBackend(
        DiffusionConfig(source="builtin:tiny-sd", cache_dir=str(model_cache_dir), device="cpu", num_threads=1)
    )


def service(db, backend, store, settings: ServerSettings | None = None) -> GenerationService:
    config = make_config()

    async def no_fetch(url: str) -> bytes:
        raise AssertionError("these tests send no image URLs")

    return GenerationService(
        config=config,
        db=db,
        store=store,
        models=ModelClient({"tiny-sd": InProcessHandle(backend)}, timeout_s=60),
        accounting=Accounting(db=db, config=config, clock=SystemClock()),
        prompts=PromptService(None, timeout_s=5),
        fetch_image=no_fetch,
        webhooks=WebhookService(db=db, scraper=None, clock=SystemClock()),
        server_settings=settings or ServerSettings(db=db, config=config, clock=SystemClock()),
    )


@pytest.fixture
def store(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path / "files", public_base_url="https://img.example.com")


async def user_of(db):
    user_id, _ = await user_with_key(db)
    return await find_user(db=db, name_or_id=str(user_id))


async def test_a_store_that_cannot_write_is_a_503_and_the_credits_come_back(db, backend, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the store's directory should be")
    generation = service(db, backend, LocalObjectStore(blocker, public_base_url="https://img.example.com"))
    user = await user_of(db)
    before = await credits.balance(db=db, user_id=user.id)

    with pytest.raises(ServiceUnavailable, match=r"storage is unavailable.*refunded"):
        await generation.generate(user=user, request=GenerateRequest(prompt="a fox"), context=RequestContext("req_s1"))

    assert await credits.balance(db=db, user_id=user.id) == before
    async with db.read() as session:
        record = (await session.exec(select(UsageRecord).where(UsageRecord.correlation_id == "req_s1"))).one()
        assert record.status == "failed"
        assert not (await session.exec(select(ImageRow).where(ImageRow.request_id == "req_s1"))).all()


async def test_storage_on_returns_hosted_urls_of_the_stored_bytes(db, backend, store):
    user = await user_of(db)
    data = await service(db, backend, store).generate(
        user=user, request=GenerateRequest(prompt="a fox", count=2, seed=5), context=RequestContext("req_s2")
    )

    assert data.storage.model_dump() == {"enabled": True, "stored": True, "plan": "test"}
    assert [image.seed for image in data.images] == [5, 6] and data.image == data.images[0].image
    keys = await store.list_keys()
    assert sorted(image.image.removeprefix("https://img.example.com/files/") for image in data.images) == keys
    first = await store.get(keys[0])
    assert Image.open(io.BytesIO(first.data)).size == (64, 64)
    assert await credits.balance(db=db, user_id=user.id) == 1000 - 2


async def test_storage_off_for_the_user_returns_data_urls_and_stores_nothing(db, backend, store):
    user = await user_of(db)
    await set_storage_enabled(db=db, user_id=user.id, enabled=False)
    user = await find_user(db=db, name_or_id=str(user.id))
    data = await service(db, backend, store).generate(
        user=user, request=GenerateRequest(prompt="a fox", output_format="webp"), context=RequestContext("req_s3")
    )

    assert data.image.startswith("data:image/webp;base64,")
    assert Image.open(io.BytesIO(base64.b64decode(data.image.split(",", 1)[1]))).format == "WEBP"
    assert (data.storage.enabled, data.storage.stored) == (False, False)
    assert await store.list_keys() == []


async def test_the_admin_switch_decides_storage_for_users_who_did_not_turn_it_off(db, backend, store):
    follower, opted_out = await user_of(db), await user_of(db)
    await set_storage_enabled(db=db, user_id=opted_out.id, enabled=False)
    opted_out = await find_user(db=db, name_or_id=str(opted_out.id))
    admin = await user_of(db)
    settings = ServerSettings(db=db, config=make_config(), clock=SystemClock())
    generation = service(db, backend, store, settings)

    async def image_of(user, request_id: str) -> str:
        request = GenerateRequest(prompt="a fox", seed=1)
        return (await generation.generate(user=user, request=request, context=RequestContext(request_id))).image

    assert (await image_of(follower, "req_sw1")).startswith("https://img.example.com/files/")
    await settings.set_storage(enabled=False, admin=admin)
    assert (await image_of(follower, "req_sw2")).startswith("data:image/png;base64,")
    await settings.set_storage(enabled=True, admin=admin)
    assert (await image_of(follower, "req_sw3")).startswith("https://img.example.com/files/")
    # A user who turned storage off keeps data URLs whatever the server says.
    assert (await image_of(opted_out, "req_sw4")).startswith("data:image/png;base64,")
    assert len(await store.list_keys()) == 2


async def test_a_batch_with_one_invalid_item_charges_only_the_others(db, backend, store):
    user = await user_of(db)
    batch = BatchRequest(items=[{"prompt": "a fox"}, {"prompt": "a fox", "width": 12}, {"prompt": "an owl", "seed": 3}])
    data = await service(db, backend, store).handle(user=user, body=batch, context=RequestContext("req_s4"))

    assert [result.success for result in data.results] == [True, False, True]
    assert data.results[1].error.field == "items.1.width"
    assert data.results[2].seed == 3 and data.results[2].image.startswith("https://img.example.com/files/")
    assert await credits.balance(db=db, user_id=user.id) == 1000 - 2
    async with db.read() as session:
        records = (await session.exec(select(UsageRecord).where(UsageRecord.user_id == user.id))).all()
    # Each item is admitted under its own server-made id; the client's id only correlates them.
    assert [r.correlation_id for r in records] == ["req_s4", "req_s4"]
    assert len({r.request_id for r in records}) == 2


async def test_the_product_variant_wraps_the_prompt_and_picks_its_shape(db, backend, store):
    user = await user_of(db)
    data = await service(db, backend, store).generate(
        user=user, request=GenerateRequest(prompt="a ceramic mug"), context=RequestContext("req_s5"), variant=PRODUCT
    )

    assert data.width > data.height
    async with db.read() as session:
        row = (await session.exec(select(ImageRow).where(ImageRow.request_id == "req_s5"))).one()
    assert "studio product photo of a ceramic mug" in row.prompt and "watermark" in row.negative_prompt


async def test_img2img_from_a_data_url_follows_the_input(db, backend, store):
    user = await user_of(db)
    generation = service(db, backend, store)
    images = {}
    for colour in ("red", "blue"):
        buffer = io.BytesIO()
        Image.new("RGB", (96, 96), colour).save(buffer, format="PNG")
        source = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
        data = await generation.generate(
            user=user,
            request=GenerateRequest(prompt="a fox", mode="img2img", image=source, strength=0.5, seed=1),
            context=RequestContext(f"req_s6_{colour}"),
        )
        assert data.mode == "img2img" and (data.width, data.height) == (64, 64)
        images[colour] = (await store.get(data.image.removeprefix("https://img.example.com/files/"))).data
    assert images["red"] != images["blue"]


async def test_with_the_s3_store_urls_are_presigned_and_the_gallery_deletes_the_object(db, backend, s3_server):
    store = S3ObjectStore(s3_server.model_copy(update={"bucket": f"gen-{secrets.token_hex(4)}"}))
    await store.prepare()
    user = await user_of(db)
    data = await service(db, backend, store).generate(
        user=user, request=GenerateRequest(prompt="a fox", count=2), context=RequestContext("req_s7")
    )

    [first_key, second_key] = sorted(await store.list_keys())
    async with httpx.AsyncClient() as client:
        downloads = {(await client.get(image.image)).content for image in data.images}
    assert downloads == {(await store.get(first_key)).data, (await store.get(second_key)).data}

    gallery = await images.list_images(db=db, store=store, user=user, limit=10, offset=0)
    assert gallery.total == 2
    await images.delete_image(db=db, store=store, user=user, image_id=data.images[0].id)
    assert len(await store.list_keys()) == 1
    assert (await images.list_images(db=db, store=store, user=user, limit=10, offset=0)).total == 1
