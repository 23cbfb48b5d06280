"""scripts/run.sh (`make run`): joins a Ray cluster only when told to, and fails fast when it is not there."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_address_nobody_answers_on_fails_within_seconds_with_what_to_do():
    address = f"127.0.0.1:{closed_port()}"
    env = {**os.environ, "RAY_ADDRESS": address, "BIN": str(Path(sys.executable).parent)}
    started = time.monotonic()
    result = subprocess.run(["bash", str(ROOT / "scripts/run.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert time.monotonic() - started < 20
    assert f"RAY_ADDRESS={address} does not answer" in result.stderr
    assert "unset RAY_ADDRESS" in result.stderr


def fake_serve_bin(tmp_path: Path) -> Path:
    """A bin folder whose `serve` only prints its arguments (starting Ray takes a minute), next
    to the real interpreter the script's address check runs on."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    serve = bin_dir / "serve"
    serve.write_text('#!/bin/sh\necho "serve $*"\n')
    serve.chmod(0o755)
    return bin_dir


def run_script(bin_dir: Path, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    return subprocess.run(
        ["bash", str(ROOT / "scripts/run.sh")],
        env={**environment, "BIN": str(bin_dir), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_an_address_it_starts_a_cluster_of_its_own_rather_than_joining_a_recorded_one(tmp_path):
    result = run_script(fake_serve_bin(tmp_path))
    assert result.stdout.strip() == "serve run --address local configs/local.yaml"


def test_an_address_that_answers_is_joined(tmp_path):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        result = run_script(fake_serve_bin(tmp_path), RAY_ADDRESS=address)
    assert result.stdout.strip() == f"serve run --address {address} configs/local.yaml"


def test_a_named_data_plane_reaches_serve_s_environment(tmp_path):
    bin_dir = fake_serve_bin(tmp_path)
    (bin_dir / "serve").write_text(
        '#!/bin/sh\necho "$RAY_SERVE_THROUGHPUT_OPTIMIZED $RAY_SERVE_ENABLE_HA_PROXY $RAY_SERVE_HAPROXY_BINARY_PATH"\n'
    )
    optimized, flags, launcher = run_script(bin_dir, PIXELRAY_DATA_PLANE="optimized").stdout.split()
    assert (optimized, flags) == ("1", "1") and launcher.endswith("/pixelray-haproxy")


def test_an_unknown_data_plane_stops_the_script_saying_which_are_known(tmp_path):
    result = run_script(fake_serve_bin(tmp_path), PIXELRAY_DATA_PLANE="fast")
    assert result.returncode != 0 and not result.stdout
    assert "default, optimized or no-haproxy" in result.stderr
