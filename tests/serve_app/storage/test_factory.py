"""Choosing and configuring the object store: local by default, S3 with secrets from the environment."""

import pytest

from serve_app.config import ConfigError
from serve_app.environment import Settings, apply_environment
from serve_app.storage.factory import build_object_store
from serve_app.storage.local import LocalObjectStore
from serve_app.storage.memory import MemoryCachedStore
from serve_app.storage.s3 import S3ObjectStore
from tests.factories import make_config

S3 = {"enabled": True, "backend": "s3", "s3": {"endpoint": "minio:9000", "bucket": "pixelray-images", "secure": False}}


def test_the_default_store_is_the_local_directory(tmp_path):
    store = build_object_store(make_config(storage={"local_dir": str(tmp_path)}))
    assert isinstance(store, MemoryCachedStore) and isinstance(store.store, LocalObjectStore)


def test_backend_s3_builds_the_s3_store_with_secrets_from_the_environment():
    config = apply_environment(
        make_config(storage=S3), Settings(s3_access_key="env-access", s3_secret_key="env-secret")
    )
    assert (config.storage.s3.access_key, config.storage.s3.secret_key) == ("env-access", "env-secret")
    store = build_object_store(config)
    assert isinstance(store, MemoryCachedStore) and isinstance(store.store, S3ObjectStore)


@pytest.mark.parametrize(
    ("storage", "message"),
    [
        ({"backend": "s3"}, "needs an `s3:` section"),
        ({"backend": "s3", "s3": {**S3["s3"], "endpoint": "http://minio:9000"}}, "host:port only"),
        ({"backend": "s3", "s3": {**S3["s3"], "presign_expiry_s": 8 * 24 * 3600}}, "presign_expiry_s"),
        ({"backend": "gcs"}, "storage.backend"),
    ],
)
def test_bad_storage_settings_are_config_errors_that_say_how_to_fix_them(storage, message):
    with pytest.raises(ConfigError, match=message):
        make_config(storage=storage)


async def test_the_local_store_lists_only_its_own_keys(tmp_path):
    store = LocalObjectStore(tmp_path, public_base_url="https://img.example.com")
    await store.put("images/2026/11/abc.png", b"x", content_type="image/png")
    await store.put("images/2026/12/def.webp", b"y", content_type="image/webp")
    (tmp_path / "stray.txt").write_text("not ours")

    assert await store.list_keys() == ["images/2026/11/abc.png", "images/2026/12/def.webp"]
    assert await store.list_keys("images/2026/12/") == ["images/2026/12/def.webp"]
