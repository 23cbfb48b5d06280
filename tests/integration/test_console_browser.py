"""The web console end to end in Chromium over the real Serve app: sign up, keys, the API with
the new key, the playground, the gallery, a project's signed <img>, hero images, usage, settings,
admin and the API docs. Nothing may load from outside the server; every page is screenshotted
into tests/artifacts/console/."""

import asyncio
import json
import secrets
import time
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image as PILImage
from playwright.async_api import expect

from tests.support.browser import LAUNCH_ARGS, block_outside_loopback, chromium_or_skip

pytestmark = [pytest.mark.serve, pytest.mark.browser]

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
PASSWORD = "a console password"
IMAGES_LOADED = "Array.from(document.querySelectorAll(SEL)).every(img => img.complete && img.naturalWidth > 0)"


# Records the src of every preview the playground shows while a run streams (they are replaced
# by the result when it ends, too fast to catch by polling).
WATCH_PREVIEWS = """() => {
  window.previewsShown = [];
  new MutationObserver(records => records.forEach(record => {
    if (record.target.matches && record.target.matches("img.preview")) window.previewsShown.push(record.target.src);
  })).observe(document.getElementById("result"), {subtree: true, attributes: true, attributeFilter: ["src"]});
}"""


def images_loaded(selector: str) -> str:
    return IMAGES_LOADED.replace("SEL", json.dumps(selector))


async def wait_until_loaded(page, selector: str, timeout_s: float = 60) -> None:
    """Polls from here: Playwright's wait_for_function polls with eval inside the page, which the
    console's Content-Security-Policy (no 'unsafe-eval') rightly refuses."""
    deadline = time.monotonic() + timeout_s
    while not await page.evaluate(images_loaded(selector)):
        assert time.monotonic() < deadline, f"images {selector} did not load in {timeout_s:.0f} s"
        await asyncio.sleep(0.1)


@pytest.fixture(scope="module")
def chromium() -> Path:
    return chromium_or_skip()


@pytest.fixture
async def console(serve_app, chromium):
    """A fresh browser page on the console; fails the test if anything left loopback or a page errored."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    blocked: list[str] = []
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=LAUNCH_ARGS)
        try:
            context = await browser.new_context(base_url=serve_app.base_url, viewport={"width": 1360, "height": 900})
            context.set_default_timeout(60_000)
            await block_outside_loopback(context, blocked)
            page = await context.new_page()
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("console", lambda msg: msg.type == "error" and errors.append(f"console: {msg.text}"))
            page.on("dialog", lambda dialog: dialog.accept())
            yield page
        finally:
            await browser.close()
    assert blocked == [], f"requests left the server: {blocked}"
    # A refused image (a 4xx placeholder) logs a resource error, and ReDoc's logo on its makers' CDN
    # is refused by the docs' Content-Security-Policy before any request goes out; nothing else may.
    allowed = ("Failed to load resource", "'https://cdn.redoc.ly/redoc/logo-mini.svg' violates the following Content")
    assert [e for e in errors if not any(text in e for text in allowed)] == []


async def shot(page, name: str) -> None:
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_a_new_user_signs_up_and_uses_every_page(serve_app, console, tmp_path):
    page = console
    name = f"web-{secrets.token_hex(3)}"

    await page.goto("/")
    assert page.url.endswith("/login?next=/")
    await shot(page, "01-login")
    await page.click("text=Create an account")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await shot(page, "02-signup")
    await page.click("button[type=submit]")
    first_key = await page.input_value("#new-key")
    assert first_key.startswith("pxr_")
    await shot(page, "03-welcome")

    # Keys: a new key is shown once, then only its prefix.
    await page.goto("/keys")
    assert first_key not in await page.content()
    await page.click("text=Create a new key")
    key = await page.input_value("#new-key")
    assert key.startswith("pxr_") and key != first_key
    await shot(page, "04-keys")
    await page.reload()
    assert key not in await page.content() and key[:16] in await page.content()

    # The API with the new key, through the OpenAI SDK: the image lands in the same gallery.
    api_prompt = "a lighthouse drawn through the api"
    client = openai.OpenAI(base_url=f"{serve_app.base_url}/v1", api_key=key, timeout=120)
    result = client.images.generate(model="tiny-sd", prompt=api_prompt, size="64x64", extra_body={"steps": 2})
    assert result.data[0].url.startswith(serve_app.base_url)

    # Playground: results without a reload, previews on the way, the balance after the run.
    await page.goto("/playground")
    balance_before = int(await page.text_content("#balance"))
    await page.fill("#prompt", "a red fox in the snow, made in the playground")
    await page.fill("#generate-form input[name=width]", "64")
    await page.fill("#generate-form input[name=height]", "64")
    await page.fill("#generate-form input[name=num_inference_steps]", "6")
    await page.fill("#generate-form input[name=seed]", "4242")
    await page.evaluate(WATCH_PREVIEWS)
    await page.click("#generate")
    await page.wait_for_selector("#result img.generated")
    await wait_until_loaded(page, "#result img.generated")
    # Previews every 6 // 4 = 1 step, none at the last: steps 1 to 5, each decoded by the page.
    previews = await page.evaluate("window.previewsShown")
    assert len(previews) == 5 and all(src.startswith("data:image/png;base64,") for src in previews)
    balance_after = int(await page.text_content("#result .balance-after"))
    assert balance_after == balance_before - 1 and int(await page.text_content("#balance")) == balance_after
    await shot(page, "05-playground")

    # img2img from an uploaded file, same form.
    start = tmp_path / "start.png"
    PILImage.new("RGB", (64, 64), (200, 40, 40)).save(start)
    await page.fill("#generate-form input[name=num_inference_steps]", "2")
    await page.set_input_files("#generate-form input[name=image]", str(start))
    await page.fill("input[name=strength]", "0.5")
    await page.click("#generate")
    await expect(page.locator("#result .balance-after")).to_have_text(str(balance_after - 1), timeout=60_000)
    assert "img2img" in await page.text_content("#result")
    await wait_until_loaded(page, "#result img.generated")

    # A model with adapters offers them (and only its own); the upscaler has its own form.
    await page.select_option("#model", "tiny-lora-sd")
    await page.check("#adapters input[value=tiny-style]")
    assert await page.is_visible("#adapters") and await page.is_visible("#upscale-form")
    await shot(page, "05b-playground-options")

    # Gallery: both images, newest first; "use these settings again" fills the playground.
    await page.goto("/gallery")
    prompts = await page.locator(".tile .prompt-text").all_text_contents()
    assert prompts[:3] == ["a red fox in the snow, made in the playground"] * 2 + [api_prompt]
    await wait_until_loaded(page, ".tile img")
    await shot(page, "06-gallery")
    await page.locator(".tile").first.get_by_text("Use these settings again").click()
    await page.wait_for_url("**/playground?from=*")
    assert await page.input_value("input[name=seed]") == "4242"

    # Projects: a signed URL, built live, renders in an <img>.
    slug = f"site-{secrets.token_hex(3)}"
    await page.goto("/projects")
    await page.fill("input[name=slug]", slug)
    await page.check("input[name=require_signature]")
    async with page.expect_navigation():
        await page.click("text=Create project")
    section = page.locator(f"#project-{slug}")
    secret = await section.locator(f"#secret-value-{slug}").input_value()
    assert len(secret) >= 32
    async with page.expect_response(lambda r: f"/p/{slug}/image" in r.url) as answer:
        await section.locator("input[name=prompt]").fill("a signed lighthouse")
        await section.get_by_role("button", name="Build URL").click()
    assert (await answer.value).status == 200, await (await answer.value).all_headers()
    url = await section.locator(f"#built-url-{slug}").input_value()
    assert "sig=" in url and url.startswith(f"{serve_app.base_url}/p/{slug}/image?")
    await wait_until_loaded(page, f"#project-{slug} img.preview")
    await shot(page, "07-projects")
    # The same URL unsigned is refused: the project is signed-only.
    unsigned = httpx.get(url.split("&sig=")[0])
    assert unsigned.status_code == 403

    # Usage: the generations in the chart and the ledger.
    await page.goto("/usage")
    await page.wait_for_selector("#usage-chart[data-ready=true]")
    chart = json.loads(await page.text_content("#usage-data"))
    assert chart["images"][-1] >= 4 and chart["credits"][-1] >= 4 and len(chart["days"]) == 30
    kinds = await page.locator("#ledger .badge").all_text_contents()
    assert kinds.count("debit") >= 4 and kinds[-1] == "grant"
    await shot(page, "08-usage")

    await page.goto("/settings")
    await shot(page, "09-settings")
    await page.goto("/")
    await shot(page, "10-dashboard")


async def test_hero_images_admin_pages_and_api_docs_render_from_the_server(serve_app, console, pages):
    page = console
    name = f"admin-{secrets.token_hex(3)}"
    serve_app.cli("users", "create", "--name", name)
    serve_app.cli("users", "role", name, "admin")
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "serve_app.cli",
            "--config",
            str(serve_app.config_path),
            "users",
            "set-password",
            name,
            "--password-stdin",
        ],
        input=PASSWORD + "\n",
        text=True,
        check=True,
        capture_output=True,
    )
    await page.goto("/login")
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{serve_app.base_url}/")

    # Hero images: submitted, followed while it works, then shown with its stable image_url.
    await page.goto("/hero")
    await page.fill("input[name=url]", pages.url("/og.html"))
    await page.click("text=Make hero image")
    await page.wait_for_selector(".hero-item .badge.completed", timeout=90_000)
    await wait_until_loaded(page, ".hero-thumb")
    assert "Baking sourdough at home" in await page.text_content(".hero-item .title")
    assert (await page.input_value(".hero-item input")).endswith("/")
    await shot(page, "11-hero")

    # Searched: the shared test app holds more users than one page of 20.
    await page.goto(f"/admin?q={name}")
    assert name in await page.text_content("#users-table")
    await shot(page, "12-admin-users")
    await page.goto("/admin/models")
    assert "tiny-sd" in await page.content()
    await shot(page, "13-admin-models")

    await page.goto("/docs")
    await page.wait_for_selector(".swagger-ui .info .title")
    await page.screenshot(path=str(ARTIFACTS / "14-docs.png"))
    await page.goto("/redoc")
    await page.wait_for_selector("h1:has-text('pixelray')")
    await page.screenshot(path=str(ARTIFACTS / "15-redoc.png"))
