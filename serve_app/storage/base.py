"""The object store interface: images go in under unguessable keys and come out as URLs."""

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}
CONTENT_TYPES = {extension: content_type for content_type, extension in EXTENSIONS.items()}
_KEY = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*\.(png|jpg|webp)$")


class ObjectNotFound(KeyError):
    """No object under this key."""


class StorageUnavailable(RuntimeError):
    """The store could not be reached or refused the operation."""


@dataclass(frozen=True)
class StoredObject:
    data: bytes
    content_type: str


def new_image_key(content_type: str) -> str:
    """`images/YYYY/MM/<192 random bits>.ext`: the date spreads keys, the token makes them unguessable."""
    now = datetime.now(UTC)
    return f"images/{now:%Y/%m}/{secrets.token_urlsafe(24)}.{EXTENSIONS[content_type]}"


def is_valid_key(key: str) -> bool:
    return bool(_KEY.match(key))


class ObjectStore(Protocol):
    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def get(self, key: str) -> StoredObject: ...

    async def delete(self, key: str) -> None:
        """Removes the object; a missing object is not an error."""
        ...

    async def list_keys(self, prefix: str = "") -> list[str]:
        """Every key starting with `prefix`, sorted."""
        ...

    def url(self, key: str) -> str:
        """The absolute URL a client downloads the object from."""
        ...

    async def prepare(self) -> None:
        """Prepares the store at start (creates the bucket or directory when allowed)."""
        ...

    async def check(self) -> None:
        """Raises StorageUnavailable when the store cannot take writes."""
        ...
