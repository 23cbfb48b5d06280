"""Builds the configured object store."""

from serve_app.config import AppConfig
from serve_app.storage.base import ObjectStore
from serve_app.storage.local import LocalObjectStore


def build_object_store(config: AppConfig) -> ObjectStore:
    return LocalObjectStore(config.storage.local_dir, public_base_url=config.public_base_url)
