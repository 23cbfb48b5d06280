#!/usr/bin/env sh
# Installs Debian's chromium for the browser test (Playwright drives it; it never downloads a
# browser). Idempotent: does nothing when /usr/bin/chromium exists. Without root it only says
# what is missing; the browser test then skips, or fails where PIXELRAY_REQUIRE_BROWSER=1 (CI).
set -eu
if [ -x /usr/bin/chromium ]; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: /usr/bin/chromium is missing; install it with: apt-get install chromium" >&2
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends chromium >/dev/null
