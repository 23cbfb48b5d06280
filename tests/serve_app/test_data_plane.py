import subprocess

import pytest

from serve_app.data_plane import data_plane_env


def test_the_optimized_plane_runs_haproxy_through_the_launcher_this_environment_installed():
    launcher = data_plane_env("optimized")["RAY_SERVE_HAPROXY_BINARY_PATH"]
    # Serve runs it with HAProxy's own arguments; the launcher adds -dS and runs the bundled binary.
    version = subprocess.run([launcher, "-v"], capture_output=True, text=True, timeout=30, check=True)
    assert version.stdout.startswith("HAProxy version 2.")


def test_an_unknown_plane_is_refused():
    with pytest.raises(ValueError, match="unknown data plane"):
        data_plane_env("fast")
