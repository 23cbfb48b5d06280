"""Debian's Chromium driven by Playwright, with every request that leaves loopback blocked and recorded."""

import os
from pathlib import Path
from urllib.parse import urlsplit

import pytest

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
REQUIRE_BROWSER = os.environ.get("PIXELRAY_REQUIRE_BROWSER") == "1"


def chromium_or_skip() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"{CHROMIUM} is required (PIXELRAY_REQUIRE_BROWSER=1); scripts/ensure-chromium.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed; run scripts/ensure-chromium.sh as root")
    return CHROMIUM


async def block_outside_loopback(context, blocked: list[str]) -> None:
    """Aborts (and lists in `blocked`) every request to anything but 127.0.0.1."""

    async def handle(route) -> None:
        url = route.request.url
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob") or parts.hostname == "127.0.0.1":
            await route.continue_()
        else:
            blocked.append(url)
            await route.abort()

    await context.route("**/*", handle)
