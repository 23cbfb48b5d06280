"""Where a finished image goes (the object store, or inline as a data URL) and its Image row."""

import base64

import pytest

from deployments.protocol import GenerationParams, GenerationResult
from serve_app.errors import ServiceUnavailable
from serve_app.services.publish import publish
from serve_app.storage.local import LocalObjectStore

RESULT = GenerationResult(
    image=b"\x89PNG fake", content_type="image/png", width=8, height=16, seed=7, inference_seconds=0.1234
)
PARAMS = GenerationParams(
    prompt="a fox", negative_prompt="blur", width=8, height=16, num_inference_steps=3, guidance_scale=5.0, seed=7
)


def store_in(tmp_path) -> LocalObjectStore:
    return LocalObjectStore(tmp_path, public_base_url="https://img.example.com")


async def put(store, **options):
    return await publish(RESULT, params=PARAMS, model="tiny-sd", user_id=3, request_id="req_1", store=store, **options)


async def test_storage_on_stores_under_an_unguessable_key_and_returns_its_url(tmp_path):
    store = store_in(tmp_path)
    image = await put(store)

    assert image.url == f"https://img.example.com/files/{image.key}"
    assert len(image.key.rsplit("/", 1)[1].removesuffix(".png")) >= 32
    assert (await store.get(image.key)).data == RESULT.image


async def test_a_given_key_is_used_as_is_so_a_rerun_overwrites_its_own_object(tmp_path):
    store = store_in(tmp_path)
    first = await put(store, key="hero/job_1.png")
    again = await put(store, key="hero/job_1.png")

    assert first.key == again.key == "hero/job_1.png"
    assert (await store.get("hero/job_1.png")).data == RESULT.image


async def test_storage_off_returns_a_data_url_and_stores_nothing(tmp_path):
    image = await put(store_in(tmp_path), enabled=False)

    assert image.key is None and image.row.storage_key is None
    assert image.url == "data:image/png;base64," + base64.b64encode(RESULT.image).decode()
    assert not any(tmp_path.iterdir())


async def test_the_row_records_what_was_drawn_and_for_whom(tmp_path):
    row = (await put(store_in(tmp_path))).row

    assert row.id.startswith("img_") and (row.user_id, row.request_id, row.model) == (3, "req_1", "tiny-sd")
    assert (row.prompt, row.negative_prompt, row.num_inference_steps, row.guidance_scale) == ("a fox", "blur", 3, 5.0)
    assert (row.width, row.height, row.seed, row.content_type) == (8, 16, 7, "image/png")
    assert (row.size_bytes, row.inference_ms) == (len(RESULT.image), 123)


async def test_a_store_that_cannot_write_is_a_503(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ServiceUnavailable, match="storage is unavailable"):
        await put(LocalObjectStore(blocker, public_base_url="https://img.example.com"))
