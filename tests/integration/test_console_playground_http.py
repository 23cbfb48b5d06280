"""The console's playground over HTTP on the real Serve application, as its page posts: a run
streams its steps and previews, and the playground reaches issue 18's capabilities (LoRA adapters,
inpainting, hires, upscaling) through the API's own services and credits."""

import base64
import html
import io
import json
import re

import httpx
import pytest
from PIL import Image

from serve_app.services import credits, users
from tests.serve_app.web.conftest import Browser, csrf_of

pytestmark = pytest.mark.serve
IMAGE_SRC = re.compile(r'<img class="generated" src="([^"]+)"')
SIZE_TEXT = re.compile(r"(\d+)×(\d+), seed (\d+), (\w+)\.")


def png(size=(64, 64), color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def events_of(body: str) -> list[tuple[str, dict]]:
    """The Server-Sent Events of a response body, as (event, data)."""
    events = []
    for frame in body.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in frame.split("\n"))
        events.append((fields["event"], json.loads(fields["data"])))
    return events


@pytest.fixture
async def console(serve_app):
    async with httpx.AsyncClient(base_url=serve_app.base_url, timeout=120) as http:
        browser = Browser(http)
        await browser.sign_up()
        browser.user = await users.find_user(db=serve_app.db, name_or_id=browser.name)
        browser.token = csrf_of((await http.get("/playground")).text)
        yield browser


async def run(console: Browser, action: str, data: dict, files: dict | None = None, *, stream: bool = False):
    headers = {"HX-Request": "true", "X-CSRF-Token": console.token}
    if stream:
        headers["Accept"] = "text/event-stream"
    response = await console.http.post(action, data=data, files=files, headers=headers)
    assert response.status_code == 200, response.text
    return response


def result_of(fragment: str) -> tuple[str, tuple[int, int], str]:
    """(first image URL, its size, the mode) from a result fragment."""
    width, height, _, mode = SIZE_TEXT.search(fragment).groups()
    return html.unescape(IMAGE_SRC.search(fragment).group(1)), (int(width), int(height)), mode


async def test_a_streamed_run_shows_each_step_and_previews_then_the_result(serve_app, console):
    before = await credits.balance(db=serve_app.db, user_id=console.user.id)
    fields = {
        "prompt": "a fox at dusk",
        "model": "tiny-sd",
        "width": "64",
        "height": "64",
        "num_inference_steps": "8",
        "seed": "11",
    }
    response = await run(console, "/playground/generate", fields, stream=True)

    assert response.headers["content-type"].startswith("text/event-stream")
    events = events_of(response.text)
    steps = [data for name, data in events if name == "progress"]
    assert [step["step"] for step in steps] == list(range(1, 9)) and {step["total"] for step in steps} == {8}
    previews = [step for step in steps if step["preview"]]
    # Three previews spread over the run; none at the last step, the image follows it.
    assert [step["step"] for step in previews] == [2, 4, 6]
    for step in previews:
        assert step["preview"].startswith("data:image/png;base64,")
        assert Image.open(io.BytesIO(base64.b64decode(step["preview"].split(",", 1)[1]))).size == (64, 64)
    name, result = events[-1]
    assert name == "result" and result_of(result["html"])[1:] == ((64, 64), "text2img")
    assert await credits.balance(db=serve_app.db, user_id=console.user.id) == before - 1
    assert f">{before - 1}<" in result["html"]


async def test_a_lora_from_the_catalog_changes_the_image_and_adds_its_surcharge(serve_app, console):
    fields = {"prompt": "a lighthouse", "model": "tiny-lora-sd", "num_inference_steps": "2", "seed": "5"}
    plain, _, _ = result_of((await run(console, "/playground/generate", fields)).text)
    before = await credits.balance(db=serve_app.db, user_id=console.user.id)
    styled_fields = {**fields, "lora": "tiny-style", "lora_weight.tiny-style": "1"}
    styled, _, _ = result_of((await run(console, "/playground/generate", styled_fields)).text)

    assert (await console.http.get(plain)).content != (await console.http.get(styled)).content
    # tiny-lora-sd costs 1 an image, tiny-style adds 1.
    assert await credits.balance(db=serve_app.db, user_id=console.user.id) == before - 2


async def test_an_uploaded_image_and_mask_are_inpainted(console):
    fields = {"prompt": "a red door", "model": "tiny-inpaint", "num_inference_steps": "2", "seed": "3"}
    files = {"image": ("photo.png", png(), "image/png"), "mask": ("mask.png", png(color=(255, 255, 255)), "image/png")}
    _, size, mode = result_of((await run(console, "/playground/generate", fields, files)).text)
    assert (size, mode) == ((64, 64), "inpaint")


async def test_hires_draws_then_enlarges_on_the_upscaler(console):
    fields = {
        "prompt": "a harbor",
        "model": "tiny-sd",
        "width": "64",
        "height": "64",
        "num_inference_steps": "2",
        "hires_scale": "2",
        "hires_model": "tiny-upscaler",
        "hires_steps": "2",
    }
    url, size, _ = result_of((await run(console, "/playground/generate", fields)).text)
    assert size == (128, 128)
    assert Image.open(io.BytesIO((await console.http.get(url)).content)).size == (128, 128)


async def test_the_upscale_form_enlarges_an_uploaded_image(console):
    fields = {"scale": "2", "model": "tiny-upscaler", "num_inference_steps": "2", "seed": "1"}
    files = {"image": ("small.png", png((48, 40)), "image/png")}
    _, size, mode = result_of((await run(console, "/playground/upscale", fields, files)).text)
    assert (size, mode) == ((96, 80), "upscale")
