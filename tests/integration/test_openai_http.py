"""The OpenAI Images API on the real Serve application, driven by the official `openai` SDK."""

import base64
import io

import httpx
import openai
import pytest
from PIL import Image

from serve_app.services import credits
from tests.factories import user_with_key

pytestmark = pytest.mark.serve


@pytest.fixture
async def account(serve_app) -> tuple[int, str]:
    return await user_with_key(serve_app.db)


def client(serve_app, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{serve_app.base_url}/v1", api_key=key, timeout=120)


async def test_n_2_gives_two_images_that_decode_to_the_requested_size(serve_app, account):
    user_id, key = account
    before = await credits.balance(db=serve_app.db, user_id=user_id)

    result = client(serve_app, key).images.generate(
        model="tiny-sd", prompt="a lighthouse", n=2, size="96x64", response_format="b64_json", style="natural"
    )

    assert len(result.data) == 2 and result.created > 0
    images = [Image.open(io.BytesIO(base64.b64decode(item.b64_json))) for item in result.data]
    assert [(image.format, image.size) for image in images] == [("PNG", (96, 64))] * 2
    assert result.data[0].b64_json != result.data[1].b64_json, "each image has its own seed"
    assert all(item.revised_prompt == "a lighthouse, natural, realistic colors" for item in result.data)
    assert before - await credits.balance(db=serve_app.db, user_id=user_id) == 2


async def test_url_is_absolute_and_downloads(serve_app, account):
    _, key = account
    result = client(serve_app, key).images.generate(
        prompt="a fox", model="dall-e-3", output_format="jpeg", extra_body={"seed": 5, "steps": 2}
    )

    url = result.data[0].url
    assert url.startswith(f"{serve_app.base_url}/files/images/")
    download = httpx.get(url)
    assert download.status_code == 200 and download.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(download.content)).size == (64, 64)


@pytest.mark.parametrize(("size", "param"), [("1024x1024", "size"), ("100x64", "size"), ("big", "size")])
async def test_an_invalid_size_raises_bad_request_and_charges_nothing(serve_app, account, size, param):
    user_id, key = account
    with pytest.raises(openai.BadRequestError) as info:
        client(serve_app, key).images.generate(prompt="a fox", size=size)

    assert info.value.status_code == 400
    assert info.value.body["param"] == param and info.value.body["type"] == "invalid_request_error"
    assert info.value.response.headers["x-request-id"]
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"n": 5}, "n"),
        ({"n": 11}, "n"),
        ({"model": "no-such-model"}, "model"),
        ({"response_format": "png"}, "response_format"),
        ({"extra_body": {"colour": "red"}}, "colour"),
    ],
)
async def test_bad_parameters_raise_bad_request_naming_the_param(serve_app, account, kwargs, param):
    _, key = account
    with pytest.raises(openai.BadRequestError) as info:
        client(serve_app, key).images.generate(prompt="a fox", **kwargs)
    assert info.value.body["param"] == param


async def test_a_bad_key_raises_authentication_error(serve_app):
    with pytest.raises(openai.AuthenticationError) as info:
        client(serve_app, "pxr_not-a-real-key-000000000000000000000000000").images.generate(prompt="a fox")
    assert info.value.body["code"] == "invalid_api_key"


async def test_insufficient_credits_raise_a_mapped_error_that_is_not_retried(serve_app):
    _, key = await user_with_key(serve_app.db, plan="broke")
    with pytest.raises(openai.RateLimitError) as info:
        client(serve_app, key).images.generate(prompt="a fox")

    assert info.value.body["code"] == "insufficient_quota"
    assert info.value.response.headers["x-should-retry"] == "false"


async def test_quality_picks_its_route_and_a_failed_generation_is_refunded_and_not_retried(serve_app, account):
    user_id, key = account
    with pytest.raises(openai.InternalServerError) as info:
        client(serve_app, key).images.generate(prompt="a fox", quality="hd")

    assert info.value.status_code == 502 and "broken-sd" in info.value.message
    assert info.value.response.headers["x-should-retry"] == "false"
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


async def test_models_lists_the_image_models(serve_app, account):
    _, key = account
    ids = [model.id for model in client(serve_app, key).models.list()]
    assert ids == ["tiny-sd", "broken-sd", "tiny-inpaint", "tiny-lora-sd", "tiny-upscaler", "tiny-block-sd"]


async def test_errors_on_v1_have_openai_shape_and_native_errors_keep_the_envelope(api):
    openai_style = await api.post("/v1/images/generations", json={"prompt": "a fox"})
    native = await api.post("/api/v1/generate", json={"prompt": "a fox"})

    assert openai_style.status_code == native.status_code == 401
    assert set(openai_style.json()) == {"error"}
    assert set(openai_style.json()["error"]) == {"message", "type", "param", "code"}
    assert openai_style.headers["x-request-id"]
    assert native.json()["success"] is False
