#!/usr/bin/env bash
# `make run`: serves a config (configs/local.yaml unless named) on a Ray cluster started for it,
# which stops with it. Ray's own default would join whatever cluster /tmp/ray/ray_current_cluster
# names, even one that died long ago, and then hang on GCS time-outs: a cluster is joined only
# when RAY_ADDRESS names it, and only after it answers.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
CONFIG=${1:-configs/local.yaml}

# PIXELRAY_DATA_PLANE=optimized (or no-haproxy, default) starts Serve on that data plane; unset,
# on Serve's default. docs/serving.md#data-plane says what each one opens and what it costs.
if [ -n "${PIXELRAY_DATA_PLANE:-}" ]; then
    exports=$("$BIN/python" -m serve_app.data_plane "$PIXELRAY_DATA_PLANE")
    eval "$exports"
fi

if [ -z "${RAY_ADDRESS:-}" ]; then
    exec "$BIN/serve" run --address local "$CONFIG"
fi
if ! "$BIN/python" - "$RAY_ADDRESS" <<'PY'
import socket, sys
address = sys.argv[1].removeprefix("ray://")
host, _, port = address.rpartition(":")
try:
    socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
except (OSError, ValueError) as exc:
    sys.exit(f"error: RAY_ADDRESS={sys.argv[1]} does not answer ({exc}). Start that Ray cluster "
             "first, or unset RAY_ADDRESS and `make run` starts a cluster of its own.")
PY
then
    exit 1
fi
exec "$BIN/serve" run --address "$RAY_ADDRESS" "$CONFIG"
