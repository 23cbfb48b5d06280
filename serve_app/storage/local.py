"""A local-directory object store, served by the app itself under /files/."""

import asyncio
import os
import tempfile
from pathlib import Path

from serve_app.storage.base import (
    CONTENT_TYPES,
    ObjectNotFound,
    StorageUnavailable,
    StoredObject,
    is_valid_key,
)


class LocalObjectStore:
    def __init__(self, root: str | Path, *, public_base_url: str):
        self.root = Path(root).expanduser().resolve()
        self.public_base_url = public_base_url.rstrip("/")

    def _path(self, key: str) -> Path:
        # Keys come back from URLs: only our own key shape may touch the disk.
        if not is_valid_key(key):
            raise ObjectNotFound(key)
        return self.root / key

    def _write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(scratch, path)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        try:
            await asyncio.to_thread(self._write, self._path(key), data)
        except OSError as exc:
            raise StorageUnavailable(f"local store could not write {key}: {exc.strerror}") from exc

    async def get(self, key: str) -> StoredObject:
        path = self._path(key)
        try:
            data = await asyncio.to_thread(path.read_bytes)
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        return StoredObject(data=data, content_type=CONTENT_TYPES[path.suffix.lstrip(".")])

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def list_keys(self, prefix: str = "") -> list[str]:
        def names() -> list[str]:
            if not self.root.is_dir():
                return []
            found = (path.relative_to(self.root).as_posix() for path in self.root.rglob("*") if path.is_file())
            return sorted(key for key in found if is_valid_key(key) and key.startswith(prefix))

        return await asyncio.to_thread(names)

    def url(self, key: str) -> str:
        return f"{self.public_base_url}/files/{key}"

    async def prepare(self) -> None:
        try:
            await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"local store {self.root} cannot be created: {exc.strerror}") from exc

    async def check(self) -> None:
        def probe() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass

        try:
            await asyncio.to_thread(probe)
        except OSError as exc:
            raise StorageUnavailable(f"local store {self.root} is not writable: {exc.strerror}") from exc
