"""An S3 object store through the `minio` SDK: MinIO in production, any S3 API in tests."""

import asyncio
import io
from datetime import timedelta

import urllib3
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from serve_app.config import S3Config
from serve_app.storage.base import CONTENT_TYPES, ObjectNotFound, StorageUnavailable, StoredObject, is_valid_key

# The SDK's own client waits minutes and retries five times; a generation waiting on storage
# should fail fast into a 503 and a refund instead.
_TIMEOUT = urllib3.Timeout(connect=5.0, read=30.0)
_RETRIES = urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504])
_FAILURES = (S3Error, ServerError, InvalidResponseError, urllib3.exceptions.HTTPError, OSError)


class S3ObjectStore:
    """Objects live in one bucket; URLs are `{public_base_url}/{key}` or presigned GETs.

    The SDK is synchronous, so every call runs in a worker thread off the event loop.
    """

    def __init__(self, config: S3Config):
        self._config = config
        self._bucket = config.bucket
        self._client = Minio(
            config.endpoint,
            access_key=config.access_key,
            secret_key=config.secret_key,
            secure=config.secure,
            region=config.region,
            http_client=urllib3.PoolManager(timeout=_TIMEOUT, retries=_RETRIES, maxsize=32),
        )

    async def _call(self, what: str, function, *args, **kwargs):
        try:
            return await asyncio.to_thread(function, *args, **kwargs)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectNotFound(args[1] if len(args) > 1 else what) from None
            raise StorageUnavailable(f"S3 {what} failed: {exc.code}") from exc
        except _FAILURES as exc:
            raise StorageUnavailable(f"S3 {what} failed: {type(exc).__name__}: {exc}") from exc

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        if not is_valid_key(key):
            raise ValueError(f"not an object key: {key!r}")
        await self._call(
            f"put {key}",
            self._client.put_object,
            self._bucket,
            key,
            io.BytesIO(data),
            len(data),
            content_type=content_type,
        )

    async def get(self, key: str) -> StoredObject:
        if not is_valid_key(key):
            raise ObjectNotFound(key)

        def read() -> bytes:
            response = self._client.get_object(self._bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        data = await self._call(f"get {key}", read)
        return StoredObject(data=data, content_type=CONTENT_TYPES[key.rsplit(".", 1)[1]])

    async def delete(self, key: str) -> None:
        if is_valid_key(key):
            await self._call(f"delete {key}", self._client.remove_object, self._bucket, key)

    async def list_keys(self, prefix: str = "") -> list[str]:
        def names() -> list[str]:
            objects = self._client.list_objects(self._bucket, prefix=prefix, recursive=True)
            return sorted(item.object_name for item in objects)

        return await self._call(f"list {prefix}", names)

    def url(self, key: str) -> str:
        if self._config.public_base_url:
            return f"{self._config.public_base_url}/{key}"
        # Signed locally: the region is configured, so no request reaches the server here.
        return self._client.presigned_get_object(
            self._bucket, key, expires=timedelta(seconds=self._config.presign_expiry_s)
        )

    async def prepare(self) -> None:
        """Creates the bucket when it is missing and `create_bucket` allows it."""

        def create() -> None:
            if not self._client.bucket_exists(self._bucket):
                self._client.make_bucket(self._bucket, location=self._config.region)

        if self._config.create_bucket:
            await self._call(f"create bucket {self._bucket}", create)

    async def check(self) -> None:
        if not await self._call("bucket check", self._client.bucket_exists, self._bucket):
            raise StorageUnavailable(f"S3 bucket {self._bucket!r} does not exist")
