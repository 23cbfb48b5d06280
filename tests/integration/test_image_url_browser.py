"""A real browser (Debian's Chromium, driven by Playwright) shows GET-image URLs in `<img>` tags,
error answers included."""

import os
from pathlib import Path

import pytest

from tests.factories import project_with_owner

pytestmark = [pytest.mark.serve, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("PIXELRAY_REQUIRE_BROWSER") == "1"


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        if REQUIRE_BROWSER:
            pytest.fail(f"{CHROMIUM} is required (PIXELRAY_REQUIRE_BROWSER=1); scripts/ensure-chromium.sh installs it")
        pytest.skip(f"{CHROMIUM} is not installed; run scripts/ensure-chromium.sh as root")
    return CHROMIUM


async def natural_sizes(chromium: Path, urls: dict[str, str]) -> dict[str, list[int]]:
    """Loads every URL in an `<img>` of one page; returns each image's natural width and height."""
    from playwright.async_api import async_playwright

    tags = "".join(f'<img id="{name}" src="{url}">' for name, url in urls.items())
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        try:
            page = await browser.new_page()
            await page.set_content(f"<!doctype html><body>{tags}</body>")
            await page.wait_for_function("Array.from(document.images).every(img => img.complete)", timeout=60_000)
            return await page.evaluate(
                "Object.fromEntries(Array.from(document.images)"
                ".map(img => [img.id, [img.naturalWidth, img.naturalHeight]]))"
            )
        finally:
            await browser.close()


async def test_error_and_success_urls_render_as_images_in_chromium(serve_app, chromium):
    project = await project_with_owner(serve_app.db)
    base = f"{serve_app.base_url}/p/{project.slug}/image"
    sizes = await natural_sizes(
        chromium,
        {
            "unknown_project": f"{serve_app.base_url}/p/no-such-project/image?prompt=a",
            "validation": f"{base}?aspect_ratio=2:1",
            "generation_failed": f"{base}?prompt=a&amp;route=test/all-broken",
            "webp": f"{base}?prompt=a%20browser%20fox&amp;seed=1",
        },
    )
    # A broken image has a natural size of 0×0.
    assert all(width > 0 and height > 0 for width, height in sizes.values()), sizes
    assert sizes["webp"] == [64, 64]
