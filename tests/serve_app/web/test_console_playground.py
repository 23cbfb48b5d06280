"""The playground's forms read into the API's request models, and what they refuse before any
model runs or any credit is spent, in process. Runs on the real models, streamed previews
included: tests/integration/test_console_playground_http.py."""

import io

from PIL import Image
from starlette.datastructures import FormData, Headers, UploadFile

from serve_app.services import users
from serve_app.web.playground_form import generate_request, upscale_request


def png(size=(64, 64), color=(200, 40, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload(data: bytes, name: str = "in.png", content_type: str = "image/png") -> UploadFile:
    return UploadFile(file=io.BytesIO(data), filename=name, headers=Headers({"content-type": content_type}))


async def test_the_form_sends_numbers_to_the_strictly_typed_generate_request():
    form = FormData(
        {"prompt": "a fox", "width": "64", "height": "64", "count": "2", "seed": "7", "guidance_scale": "5.5"}
    )
    request = await generate_request(form)
    assert (request.width, request.count, request.seed, request.guidance_scale) == (64, 2, 7, 5.5)
    assert request.mode == "text2img" and request.loras is None and request.hires is None


async def test_adapters_an_inpainting_mask_and_hires_become_the_apis_fields():
    form = FormData(
        [
            ("prompt", "a door"),
            ("lora", "tiny-style"),
            ("lora_weight.tiny-style", "0.5"),
            ("lora", "other"),
            ("lora_weight.other", ""),
            ("image", upload(png())),
            ("mask", upload(png(color=(255, 255, 255)))),
            ("hires_scale", "2"),
            ("hires_model", "tiny-upscaler"),
            ("hires_steps", ""),
        ]
    )
    request = await generate_request(form)

    assert request.mode == "inpaint" and request.image.startswith("data:image/png;base64,")
    assert request.mask.startswith("data:image/png;base64,")
    assert [(lora.slug, lora.weight) for lora in request.loras] == [("tiny-style", 0.5), ("other", None)]
    assert (request.hires.scale, request.hires.model, request.hires.num_inference_steps) == (2, "tiny-upscaler", None)


async def test_an_image_without_a_mask_is_img2img():
    request = await generate_request(FormData([("prompt", "a fox"), ("image", upload(png())), ("strength", "0.5")]))
    assert (request.mode, request.strength, request.mask) == ("img2img", 0.5, None)


async def test_the_upscale_form_becomes_the_apis_upscale_request():
    request = await upscale_request(FormData([("image", upload(png())), ("scale", "2"), ("prompt", ""), ("seed", "4")]))
    assert (request.scale, request.seed, request.prompt) == (2, 4, "")
    assert request.image.startswith("data:image/png;base64,")


async def test_a_playground_number_that_is_not_one_is_refused_naming_the_field(browser):
    await browser.sign_up()
    response = await browser.htmx_post("/playground", "/playground/generate", {"prompt": "a fox", "seed": "seven"})
    assert response.status_code == 400 and "seed" in response.text


async def test_a_mask_without_its_image_is_refused_naming_the_image(browser):
    await browser.sign_up()
    response = await browser.htmx_post(
        "/playground", "/playground/generate", {"prompt": "a door"}, files={"mask": ("mask.png", png(), "image/png")}
    )
    assert response.status_code == 400 and "image: inpainting needs the image" in response.text
    assert response.headers["HX-Retarget"] == "#flash"


async def test_a_streamed_run_refused_before_it_starts_is_an_error_page_and_costs_nothing(browser, state):
    await browser.sign_up()
    token = (await browser.http.get("/playground")).text.split('name="csrf_token" value="')[1].split('"')[0]
    headers = {"HX-Request": "true", "X-CSRF-Token": token, "Accept": "text/event-stream"}
    cases = {
        "loras": {"prompt": "a fox", "lora": "no-such-style"},
        "hires.model": {"prompt": "a fox", "hires_scale": "2"},
    }
    for field, data in cases.items():
        response = await browser.http.post("/playground/generate", data=data, headers=headers)
        assert response.status_code == 400 and f"{field}:" in response.text, response.text
        assert response.headers["content-type"].startswith("text/html")
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    assert user.balance == 1000


async def test_the_upscale_form_without_an_image_is_refused_naming_it(browser):
    await browser.sign_up()
    response = await browser.htmx_post("/playground", "/playground/upscale", {"scale": "4"})
    assert response.status_code == 400 and "image:" in response.text


async def test_the_page_offers_adapters_masks_hires_and_upscaling_only_where_the_catalog_has_them(browser):
    await browser.sign_up()
    page = (await browser.http.get("/playground")).text
    # The test catalog has tiny-sd alone: no adapters, no upscaler.
    assert 'id="mask"' in page and "data-stream" in page
    assert 'data-model="tiny-sd"' not in page and 'id="upscale-form"' not in page and 'id="hires"' not in page
