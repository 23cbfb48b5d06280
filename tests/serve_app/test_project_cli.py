"""`pixelray projects ...` on a serve config's SQLite database."""

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from serve_app.errors import SignatureInvalid
from serve_app.services.signing import verify
from tests.conftest import run_cli, write_serve_config
from tests.factories import PLANS, tiny_model_entry


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    args = {
        "database_url": f"sqlite:///{tmp_path}/cli.db",
        "models": [tiny_model_entry()],
        "plans": PLANS,
        "public_base_url": "https://img.example.com",
    }
    path = write_serve_config(tmp_path / "serve.yaml", args)
    run_cli("--config", str(path), "users", "create", "--name", "alice")
    return path


def cli(config_path: Path, *argv: str) -> list[str]:
    return run_cli("--config", str(config_path), *argv).strip().splitlines()


def test_create_list_and_rotate_secret(config_path):
    created = cli(
        config_path,
        "projects",
        "create",
        "demo",
        "--user",
        "alice",
        "--origin",
        "https://Shop.example/",
        "--require-signature",
    )
    secret = created[-1]
    assert len(secret) >= 40 and " " not in secret
    assert "https://img.example.com/p/demo/image?prompt=..." in created[0]
    listing = "\n".join(cli(config_path, "projects", "list"))
    assert "demo" in listing and "alice" in listing and "https://shop.example" in listing
    rotated = cli(config_path, "projects", "rotate-secret", "demo")[-1]
    assert rotated != secret and len(rotated) == len(secret)


def test_sign_prints_a_url_that_verifies_with_the_current_secret(config_path):
    secret = cli(config_path, "projects", "create", "demo", "--user", "alice", "--require-signature")[-1]
    signed = cli(config_path, "projects", "sign", "demo", "prompt=A sunset&seed=3", "--expires-in", "60")[-1]
    parts = urlsplit(signed)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "img.example.com", "/p/demo/image")
    verify(secret, parts.query, now=time.time())
    rotated = cli(config_path, "projects", "rotate-secret", "demo")[-1]
    with pytest.raises(SignatureInvalid):
        verify(rotated, parts.query, now=time.time())
