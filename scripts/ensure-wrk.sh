#!/usr/bin/env sh
# Installs Debian's wrk for `make bench`'s fixed-connection stages (cache hits and the endpoint
# floor). Idempotent. Without root it only says what is missing; those stages then skip.
set -eu
if command -v wrk >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-wrk: wrk is missing; install it with: apt-get install wrk" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends wrk >/dev/null
