"""The pixelray CLI on a serve config's SQLite database."""

from pathlib import Path

import pytest

from tests.conftest import run_cli, write_serve_config
from tests.factories import PLANS, tiny_model_entry


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    args = {"database_url": f"sqlite:///{tmp_path}/cli.db", "models": [tiny_model_entry()], "plans": PLANS}
    return write_serve_config(tmp_path / "serve.yaml", args)


def cli(config_path: Path, *argv: str) -> list[str]:
    return run_cli("--config", str(config_path), *argv).strip().splitlines()


def test_users_create_prints_the_key_alone_on_the_last_line(config_path):
    lines = cli(config_path, "users", "create", "--name", "alice")
    assert lines[-1].startswith("pxr_") and " " not in lines[-1]
    assert lines[-1] not in "\n".join(cli(config_path, "users", "list"))
    assert "alice" in "\n".join(cli(config_path, "users", "list"))


def test_credits_grant_and_history(config_path):
    cli(config_path, "users", "create", "--name", "bob", "--plan", "broke")
    assert cli(config_path, "credits", "grant", "bob", "25")[-1] == "granted 25 credits to 'bob'; balance 25"
    history = cli(config_path, "credits", "history", "bob")
    assert "grant" in history[1] and history[-1] == "balance 25"


def test_errors_are_one_line_on_stderr_with_exit_code_2(config_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-m", "serve_app.cli", "--config", str(config_path), "credits", "grant", "nobody", "5"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2 and result.stderr.strip() == "pixelray: no user named 'nobody'"


def test_users_storage_turns_a_users_storage_off_and_on(config_path):
    cli(config_path, "users", "create", "--name", "carol")
    assert cli(config_path, "users", "storage", "carol", "off") == ["storage for 'carol' is now off"]
    row = next(line for line in cli(config_path, "users", "list") if "carol" in line)
    assert row.split()[-2:] == ["off", "active"]
    cli(config_path, "users", "storage", "carol", "on")
    row = next(line for line in cli(config_path, "users", "list") if "carol" in line)
    assert row.split()[-2:] == ["on", "active"]


def test_users_set_password_and_role_let_a_cli_made_user_run_the_console(config_path):
    import subprocess
    import sys

    cli(config_path, "users", "create", "--name", "root")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "serve_app.cli",
            "--config",
            str(config_path),
            "users",
            "set-password",
            "root",
            "--password-stdin",
        ],
        input="a long enough password\n",
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "'root' can now log in to the console"
    assert cli(config_path, "users", "role", "root", "admin") == ["'root' now has the admin role"]
