#!/usr/bin/env bash
# `make load`: serves configs/local.yaml on a Ray head of its own (not on 6379), creates load-test
# users, runs benchmarks/locustfile.py headless, checks the thresholds, and stops what it started.
# Knobs: LOAD_USERS (20), LOAD_SPAWN_RATE (5), LOAD_TIME (60s), RAY_PORT (6390), LOAD_KEYS (4),
# PAGES_PORT (8731).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
RAY_PORT=${RAY_PORT:-6390}
USERS=${LOAD_USERS:-20}
SPAWN_RATE=${LOAD_SPAWN_RATE:-5}
RUN_TIME=${LOAD_TIME:-60s}
OUT=benchmarks/results/load
HOST=http://127.0.0.1:8000
mkdir -p "$OUT"
# A database of its own, so earlier runs' users and limits do not skew this one.
WORK=$(mktemp -d)
export PIXELRAY_DATABASE_URL="sqlite:///$WORK/pixelray.db"
export RAY_ADDRESS="127.0.0.1:$RAY_PORT"
# A throwaway loopback-only cluster: no token (Ray's token file in ~/.ray is shared with any other
# cluster this user starts, and a stale one locks the CLI out).
export RAY_AUTH_MODE=disabled
# A busy machine can take longer than the default 60 s to register the raylet.
export RAY_raylet_start_wait_time_s=180

PAGES_PORT=${PAGES_PORT:-8731}

HEAD_PID=""; SERVE_PID=""; PAGES_PID=""
cleanup() {
    set +e
    # SIGTERM: a non-interactive shell starts background jobs with SIGINT ignored. The head's
    # shutdown below takes the application with it.
    [ -n "$SERVE_PID" ] && kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID" 2>/dev/null
    # `ray start --block` stops the processes of its own head (and only those) on SIGTERM.
    [ -n "$HEAD_PID" ] && kill -TERM "$HEAD_PID" 2>/dev/null && wait "$HEAD_PID" 2>/dev/null
    [ -n "$PAGES_PID" ] && kill -TERM "$PAGES_PID" 2>/dev/null && wait "$PAGES_PID" 2>/dev/null
    # `ray start` recorded this head as the machine's current cluster; left behind, it names a
    # dead head that a later bare `ray.init()` or `serve run` would try to join.
    # It holds the head's node address, which need not be the loopback one used here: match the port.
    case "$(cat /tmp/ray/ray_current_cluster 2>/dev/null)" in *":$RAY_PORT") rm -f /tmp/ray/ray_current_cluster ;; esac
    rm -rf "$WORK"
}
trap cleanup EXIT

"$BIN/ray" start --head --block --port="$RAY_PORT" --node-ip-address=127.0.0.1 --num-cpus=2 --include-dashboard=false \
    --disable-usage-stats >"$OUT/ray.log" 2>&1 &
HEAD_PID=$!
for _ in $(seq 120); do timeout 10 "$BIN/ray" status --address "$RAY_ADDRESS" >/dev/null 2>&1 && break; sleep 1; done

# Hero jobs need a page to fetch: a static one on loopback, which the scraper refuses unless
# allow-listed. The app runs configs/local.yaml with that one entry added.
mkdir -p "$WORK/pages"
cat >"$WORK/pages/article.html" <<'HTML'
<html><head><title>Harbour lights return for the winter festival</title>
<meta property="og:site_name" content="Coastal Times"></head>
<body><article><h1>Harbour lights return for the winter festival</h1>
<p>Lanterns line the old harbour as the town opens its winter festival with music and markets.</p>
</article></body></html>
HTML
"$BIN/python" -m http.server "$PAGES_PORT" --bind 127.0.0.1 --directory "$WORK/pages" >/dev/null 2>&1 &
PAGES_PID=$!
"$BIN/python" - configs/local.yaml "$WORK/serve.yaml" <<'PY'
import sys, yaml
document = yaml.safe_load(open(sys.argv[1]))
document["applications"][0]["args"].setdefault("scraper", {})["allow_list"] = ["127.0.0.1/32"]
yaml.safe_dump(document, open(sys.argv[2], "w"), sort_keys=False)
PY

"$BIN/serve" run --address "$RAY_ADDRESS" "$WORK/serve.yaml" >"$OUT/serve.log" 2>&1 &
SERVE_PID=$!
for _ in $(seq 180); do
    curl -sf "$HOST/api/v1/health" >/dev/null 2>&1 && break
    kill -0 "$SERVE_PID" 2>/dev/null || { tail -30 "$OUT/serve.log"; exit 1; }
    sleep 1
done
curl -sf "$HOST/api/v1/health" >/dev/null || { echo "pixelray did not become healthy" >&2; exit 1; }

KEYS=""
for i in $(seq "${LOAD_KEYS:-4}"); do
    name="load-$i-$RANDOM"
    key=$("$BIN/pixelray" users create --name "$name" --plan pro | tail -1)
    "$BIN/pixelray" credits grant "$name" 100000 >/dev/null
    KEYS="$KEYS${KEYS:+,}$key"
    [ -n "${OWNER:-}" ] || OWNER=$name
done
# GET-image traffic is billed to the project's owner (the first load user).
PROJECT="load-$RANDOM"
"$BIN/pixelray" projects create "$PROJECT" --user "$OWNER" >/dev/null

PIXELRAY_LOAD_KEYS="$KEYS" PIXELRAY_LOAD_PROJECT="$PROJECT" PIXELRAY_LOAD_PAGE_URL="http://127.0.0.1:$PAGES_PORT/article.html" "$BIN/locust" -f benchmarks/locustfile.py --headless --host "$HOST" \
    --users "$USERS" --spawn-rate "$SPAWN_RATE" --run-time "$RUN_TIME" --csv "$OUT/run" \
    --only-summary --exit-code-on-error 0 >"$OUT/locust.log" 2>&1 || { tail -30 "$OUT/locust.log"; exit 1; }
grep -h "locustfile:" "$OUT/locust.log" || true
"$BIN/python" benchmarks/check_load.py "$OUT/run"
