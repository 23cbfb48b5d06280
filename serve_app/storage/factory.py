"""Builds the configured object store."""

from serve_app.config import AppConfig
from serve_app.storage.base import ObjectStore
from serve_app.storage.local import LocalObjectStore
from serve_app.storage.memory import MemoryCachedStore


def build_object_store(config: AppConfig) -> ObjectStore:
    store = _backend(config)
    if config.storage.memory_cache_bytes == 0:
        return store
    return MemoryCachedStore(
        store, max_bytes=config.storage.memory_cache_bytes, max_age_s=config.storage.memory_cache_max_age_s
    )


def _backend(config: AppConfig) -> ObjectStore:
    if config.storage.backend == "s3":
        # Imported here: the local default never needs the S3 SDK loaded.
        from serve_app.storage.s3 import S3ObjectStore

        # StorageConfig refuses `backend: s3` without an `s3:` section.
        assert config.storage.s3 is not None
        return S3ObjectStore(config.storage.s3)
    return LocalObjectStore(config.storage.local_dir, public_base_url=config.public_base_url)
