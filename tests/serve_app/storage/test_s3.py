"""The S3 store against a real S3 server (SeaweedFS), through the same minio SDK code as MinIO."""

import secrets

import httpx
import pytest

from serve_app.storage.base import ObjectNotFound, StorageUnavailable, new_image_key
from serve_app.storage.s3 import S3ObjectStore

PNG = b"\x89PNG\r\n\x1a\n" + secrets.token_bytes(64)


@pytest.fixture
async def store(s3_server) -> S3ObjectStore:
    bucket_store = S3ObjectStore(s3_server.model_copy(update={"bucket": f"px-{secrets.token_hex(4)}"}))
    await bucket_store.prepare()
    return bucket_store


async def test_put_get_list_and_delete_round_trip(store):
    keys = [new_image_key("image/png") for _ in range(3)]
    for key in keys:
        await store.put(key, PNG, content_type="image/png")

    stored = await store.get(keys[0])
    assert (stored.data, stored.content_type) == (PNG, "image/png")
    assert await store.list_keys("images/") == sorted(keys)

    await store.delete(keys[0])
    with pytest.raises(ObjectNotFound):
        await store.get(keys[0])
    assert await store.list_keys() == sorted(keys[1:])


async def test_a_presigned_url_downloads_the_same_bytes_and_an_unsigned_one_does_not(store, s3_server):
    key = new_image_key("image/png")
    await store.put(key, PNG, content_type="image/png")

    url = store.url(key)
    async with httpx.AsyncClient() as client:
        signed = await client.get(url)
        unsigned = await client.get(url.split("?", 1)[0])
    assert signed.status_code == 200 and signed.content == PNG
    assert signed.headers["content-type"] == "image/png"
    assert unsigned.status_code == 403


async def test_a_public_base_url_makes_plain_urls(s3_server):
    config = s3_server.model_copy(update={"public_base_url": "https://cdn.example.com/pixelray"})
    assert (
        S3ObjectStore(config).url("images/2026/11/abc.png") == "https://cdn.example.com/pixelray/images/2026/11/abc.png"
    )


async def test_wrong_credentials_are_storage_unavailable(s3_server):
    store = S3ObjectStore(s3_server.model_copy(update={"secret_key": "wrong-secret-0000000000"}))
    with pytest.raises(StorageUnavailable, match="S3"):
        await store.put(new_image_key("image/png"), PNG, content_type="image/png")


async def test_a_missing_bucket_fails_the_health_check(s3_server):
    store = S3ObjectStore(s3_server.model_copy(update={"bucket": "never-created", "create_bucket": False}))
    await store.prepare()
    with pytest.raises(StorageUnavailable, match="does not exist"):
        await store.check()
