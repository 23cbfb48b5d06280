"""A real S3 server for the S3 store (tests/support/weed.py), started once, stopped when the tests end."""

from collections.abc import Iterator

import pytest

from serve_app.config import S3Config
from tests.conftest import free_port
from tests.support.weed import WeedServer


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Config]:
    """An S3 endpoint on 127.0.0.1 answering with our credentials; yields a config without a bucket."""
    server = WeedServer(tmp_path_factory.mktemp("seaweedfs"), weed_ports())
    try:
        server.start()
    except RuntimeError as exc:
        pytest.fail(str(exc))
    try:
        yield server.config
    finally:
        server.stop()


def weed_ports() -> dict[str, int]:
    return {
        flag: free_port()
        for flag in ("master.port", "volume.port", "filer.port", "s3.port")
        for flag in (flag, f"{flag}.grpc")
    }
