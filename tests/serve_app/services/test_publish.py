"""Where a finished image goes: the object store, or inline as a data URL."""

import base64

import pytest

from deployments.protocol import GenerationResult
from serve_app.errors import ServiceUnavailable
from serve_app.services.publish import publish_image
from serve_app.storage.local import LocalObjectStore

RESULT = GenerationResult(
    image=b"\x89PNG fake", content_type="image/png", width=8, height=8, seed=1, inference_seconds=0.1
)


async def test_storage_on_stores_under_an_unguessable_key_and_returns_its_url(tmp_path):
    store = LocalObjectStore(tmp_path, public_base_url="https://img.example.com")
    url, key = await publish_image(RESULT, store=store, enabled=True)

    assert url == f"https://img.example.com/files/{key}"
    assert len(key.rsplit("/", 1)[1].removesuffix(".png")) >= 32
    assert (await store.get(key)).data == RESULT.image


async def test_storage_off_returns_a_data_url_and_stores_nothing(tmp_path):
    store = LocalObjectStore(tmp_path, public_base_url="https://img.example.com")
    url, key = await publish_image(RESULT, store=store, enabled=False)

    assert key is None
    assert url == "data:image/png;base64," + base64.b64encode(RESULT.image).decode()
    assert not any(tmp_path.iterdir())


async def test_a_store_that_cannot_write_is_a_503(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    store = LocalObjectStore(blocker, public_base_url="https://img.example.com")
    with pytest.raises(ServiceUnavailable, match="storage is unavailable"):
        await publish_image(RESULT, store=store, enabled=True)
