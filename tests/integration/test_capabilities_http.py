"""Inpainting (native and OpenAI's `images.edit`), LoRA adapters (also on GET image), upscaling
and previews on the real Serve application, with the built-in tiny models."""

import asyncio
import base64
import io
import time

import httpx
import numpy as np
import openai
import pytest
from PIL import Image

from serve_app.services import credits
from serve_app.services.signing import signed_query
from tests.factories import project_with_owner, user_with_key
from tests.integration.test_metrics_http import scrape

pytestmark = pytest.mark.serve
SIZE = 64


@pytest.fixture
async def account(serve_app) -> tuple[int, str]:
    return await user_with_key(serve_app.db)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(image: Image.Image) -> str:
    return "data:image/png;base64," + base64.b64encode(png(image)).decode()


def gradient() -> Image.Image:
    x, y = np.meshgrid(np.arange(SIZE), np.arange(SIZE))
    return Image.fromarray(np.stack([x * 4, y * 4, np.full_like(x, 90)], axis=-1).astype(np.uint8), mode="RGB")


def square(margin: int = 0) -> np.ndarray:
    """The centred half-size square to redraw, grown by `margin` pixels each way."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    mask[SIZE // 4 - margin : 3 * SIZE // 4 + margin, SIZE // 4 - margin : 3 * SIZE // 4 + margin] = True
    return mask


def assert_only_the_square_changed(result: bytes) -> None:
    image = Image.open(io.BytesIO(result))
    assert image.size == (SIZE, SIZE)
    out, original = np.asarray(image.convert("RGB"), dtype=np.int16), np.asarray(gradient(), dtype=np.int16)
    outside, inside = ~square(margin=3), square(margin=-3)
    assert np.abs(out[outside] - original[outside]).max() <= 2
    assert np.abs(out[inside] - original[inside]).mean() > 20


async def download(api: httpx.AsyncClient, url: str) -> bytes:
    response = await api.get(url)
    assert response.status_code == 200
    return response.content


async def test_native_inpaint_redraws_the_white_area_only(api, account):
    _, key = account
    mask = Image.fromarray(square().astype(np.uint8) * 255, mode="L")
    response = await api.post(
        "/api/v1/generate",
        json={
            "prompt": "a red door",
            "model": "tiny-inpaint",
            "mode": "inpaint",
            "image": data_url(gradient()),
            "mask": data_url(mask),
            "seed": 3,
        },
        headers=auth(key),
    )

    assert response.status_code == 200, response.text
    assert response.json()["data"]["mode"] == "inpaint"
    assert_only_the_square_changed(await download(api, response.json()["data"]["image"]))


async def test_a_mask_of_another_size_is_a_400_on_mask_and_charges_nothing(serve_app, api, account):
    user_id, key = account
    response = await api.post(
        "/api/v1/generate",
        json={
            "prompt": "a",
            "model": "tiny-inpaint",
            "mode": "inpaint",
            "image": data_url(gradient()),
            "mask": data_url(Image.new("L", (32, 32), 255)),
        },
        headers=auth(key),
    )

    assert response.status_code == 400 and response.json()["error"]["field"] == "mask"
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


def openai_client(serve_app, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{serve_app.base_url}/v1", api_key=key, timeout=120)


def transparent_square_mask() -> bytes:
    alpha = np.where(square(), 0, 255).astype(np.uint8)
    return png(Image.fromarray(np.dstack([np.zeros((SIZE, SIZE, 3), np.uint8), alpha]), mode="RGBA"))


async def test_the_sdks_images_edit_redraws_the_transparent_area_of_the_mask(serve_app, account):
    user_id, key = account
    result = await asyncio.to_thread(
        openai_client(serve_app, key).images.edit,
        image=("photo.png", png(gradient()), "image/png"),
        mask=("mask.png", transparent_square_mask(), "image/png"),
        prompt="a red door",
        n=2,
        size=f"{SIZE}x{SIZE}",
        response_format="b64_json",
        extra_body={"seed": 5},
    )

    assert len(result.data) == 2 and result.data[0].b64_json != result.data[1].b64_json
    for item in result.data:
        assert_only_the_square_changed(base64.b64decode(item.b64_json))
        assert item.revised_prompt == "a red door"
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 2


async def test_without_a_mask_the_images_own_transparency_is_the_mask(serve_app, account):
    _, key = account
    rgba = gradient().convert("RGBA")
    rgba.putalpha(Image.fromarray(np.where(square(), 0, 255).astype(np.uint8), mode="L"))
    result = await asyncio.to_thread(
        openai_client(serve_app, key).images.edit,
        image=("photo.png", png(rgba), "image/png"),
        prompt="a red door",
        size=f"{SIZE}x{SIZE}",
    )

    assert result.data[0].url.startswith(f"{serve_app.base_url}/files/")
    assert_only_the_square_changed(httpx.get(result.data[0].url).content)


@pytest.mark.parametrize(
    ("kwargs", "param"),
    [
        ({"model": "tiny-sd"}, "model"),
        ({"size": "1024x1024"}, "size"),
        ({"n": 5}, "n"),
        ({"mask": ("m.png", png(Image.new("RGBA", (32, 32))), "image/png")}, "mask"),
        ({"image": ("a.pdf", b"%PDF-1.7", "application/pdf")}, "image"),
    ],
)
async def test_bad_edit_parameters_are_400s_naming_the_param(serve_app, account, kwargs, param):
    user_id, key = account
    values = {
        "image": ("photo.png", png(gradient()), "image/png"),
        "mask": ("mask.png", transparent_square_mask(), "image/png"),
        "prompt": "a red door",
        **kwargs,
    }
    with pytest.raises(openai.BadRequestError) as info:
        await asyncio.to_thread(openai_client(serve_app, key).images.edit, **values)

    assert info.value.body["param"] == param, info.value.body
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


async def generate(api: httpx.AsyncClient, key: str, **fields) -> bytes:
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "model": "tiny-lora-sd", "seed": 11, **fields}, headers=auth(key)
    )
    assert response.status_code == 200, response.text
    return await download(api, response.json()["data"]["image"])


def pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)), dtype=np.int16)


async def test_an_adapter_changes_the_image_and_weight_0_gives_the_base_one(api, account):
    _, key = account
    base = await generate(api, key)
    styled = await generate(api, key, lora="tiny-style")
    zero = await generate(api, key, loras=[{"slug": "tiny-style", "weight": 0}])

    assert np.abs(pixels(styled) - pixels(base)).mean() > 1
    assert np.abs(pixels(zero) - pixels(base)).max() <= 1


async def test_an_adapter_adds_its_surcharge(serve_app, api, account):
    user_id, key = account
    await generate(api, key, lora="tiny-style")
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 2


async def test_an_unknown_adapter_is_a_400_naming_it(serve_app, api, account):
    user_id, key = account
    response = await api.post(
        "/api/v1/generate",
        json={"prompt": "a", "model": "tiny-lora-sd", "loras": [{"slug": "watercolour"}]},
        headers=auth(key),
    )

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["field"] == "loras" and "watercolour" in error["message"]
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


async def test_the_catalog_lists_each_models_adapters(api):
    models = {m["slug"]: m for m in (await api.get("/api/v1/models")).json()["data"]["models"]}
    assert [a["slug"] for a in models["tiny-lora-sd"]["adapters"]] == ["tiny-style", "tiny-routing"]
    assert models["tiny-lora-sd"]["adapters"][0]["credits_per_image"] == 1
    assert models["tiny-sd"]["adapters"] == [] and models["tiny-inpaint"]["modes"] == ["inpaint"]


async def test_repeated_requests_for_an_adapter_land_on_the_replica_that_loaded_it(api, account, ray_cluster):
    _, key = account
    await generate(api, key, lora="tiny-routing")
    loads = await adapter_loads(ray_cluster, minimum=1)
    for seed in range(6):
        await generate(api, key, lora="tiny-routing", seed=seed)

    # The metric reaches Prometheus with a delay; a load on the other replica would show within it.
    await asyncio.sleep(3)
    assert await adapter_loads(ray_cluster, minimum=1) == loads
    assert len(loads) == 1, f"one replica loaded the adapter: {loads}"


async def adapter_loads(port: int, *, minimum: int, timeout_s: float = 60) -> dict[str, float]:
    """Loads of tiny-routing per replica of tiny-lora-sd, once at least `minimum` are exported."""
    deadline = time.monotonic() + timeout_s
    while True:
        found = await scrape(port)
        per_replica = {
            dict(tags).get("replica", ""): value
            for (name, tags), value in found.items()
            if name == "ray_pixelray_adapter_loads_total"
            and ("model", "tiny-lora-sd") in tags
            and ("adapter", "tiny-routing") in tags
        }
        if sum(per_replica.values()) >= minimum or time.monotonic() > deadline:
            return per_replica
        await asyncio.sleep(1)


async def test_upscale_enlarges_the_image_and_charges_per_output_megapixel(serve_app, api, account):
    user_id, key = account
    response = await api.post(
        "/api/v1/upscale",
        json={"image": data_url(gradient().resize((40, 24))), "scale": 4, "seed": 2},
        headers=auth(key),
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["width"], data["height"], data["mode"], data["model"]) == (160, 96, "upscale", "tiny-upscaler")
    assert Image.open(io.BytesIO(await download(api, data["image"]))).size == (160, 96)
    # 160 × 96 px at 100 credits per megapixel: 1.5, rounded up.
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"image": "SIZE", "scale": 4, "model": "tiny-sd"}, "model"),
        ({"image": "BIG", "scale": 4}, "image"),
        ({"image": "SIZE", "scale": 3}, "scale"),
    ],
)
async def test_bad_upscale_requests_are_400s_naming_the_field(serve_app, api, account, body, field):
    user_id, key = account
    images = {"SIZE": data_url(gradient().resize((40, 24))), "BIG": data_url(gradient().resize((128, 64)))}
    response = await api.post("/api/v1/upscale", json={**body, "image": images[body["image"]]}, headers=auth(key))

    assert response.status_code == 400 and response.json()["error"]["field"] == field, response.text
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


async def test_hires_draws_then_enlarges_and_adds_the_upscalers_price(serve_app, api, account):
    user_id, key = account
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "seed": 4, "hires": {"scale": 2}}, headers=auth(key)
    )

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert (data["width"], data["height"]) == (128, 128)
    assert Image.open(io.BytesIO(await download(api, data["image"]))).size == (128, 128)
    # 1 for the 64x64 draw, then 128 × 128 px at 100 credits per megapixel: 1.6, rounded up.
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 3


@pytest.mark.parametrize(
    ("hires", "field"), [({"scale": 4, "model": "tiny-sd"}, "hires.model"), ({"scale": 4}, "hires.scale")]
)
async def test_a_hires_the_upscaler_cannot_do_is_a_400(serve_app, api, account, hires, field):
    user_id, key = account
    response = await api.post(
        "/api/v1/generate", json={"prompt": "a fox", "width": 128, "height": 128, "hires": hires}, headers=auth(key)
    )

    assert response.status_code == 400 and response.json()["error"]["field"] == field, response.text
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


async def test_the_sdks_stream_gets_partial_images_then_the_completed_one(serve_app, account):
    user_id, key = account

    def stream() -> list:
        return list(
            openai_client(serve_app, key).images.generate(
                model="tiny-sd",
                prompt="a fox",
                size="64x64",
                stream=True,
                partial_images=2,
                extra_body={"steps": 4, "seed": 3},
            )
        )

    events = await asyncio.to_thread(stream)

    assert [e.type for e in events] == ["image_generation.partial_image"] * 2 + ["image_generation.completed"]
    assert [e.partial_image_index for e in events[:2]] == [0, 1]
    images = [Image.open(io.BytesIO(base64.b64decode(e.b64_json))) for e in events]
    assert [image.size for image in images] == [(64, 64)] * 3
    assert events[0].b64_json != events[1].b64_json != events[2].b64_json
    assert events[2].size == "64x64" and events[2].output_format == "png"
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 1


async def test_a_stream_whose_model_fails_raises_in_the_sdk_and_is_refunded(serve_app, account):
    user_id, key = account

    def stream() -> list:
        return list(
            openai_client(serve_app, key).images.generate(
                model="broken-sd",
                prompt="a fox",
                stream=True,
                partial_images=1,
                extra_body={"steps": 2},
            )
        )

    with pytest.raises(openai.APIError) as info:
        await asyncio.to_thread(stream)

    assert "broken-sd" in info.value.message
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000


@pytest.mark.parametrize(
    ("kwargs", "param"), [({"stream": True, "n": 2}, "n"), ({"partial_images": 1}, "partial_images")]
)
async def test_bad_stream_parameters_are_plain_400s(serve_app, account, kwargs, param):
    _, key = account
    with pytest.raises(openai.BadRequestError) as info:
        await asyncio.to_thread(openai_client(serve_app, key).images.generate, prompt="a fox", **kwargs)
    assert info.value.body["param"] == param


def lora_url(project, query: str) -> str:
    return f"/p/{project.slug}/image?prompt=a%20fox&model=tiny-lora-sd&seed=3&format=png&{query}"


async def test_get_image_applies_adapters_and_charges_their_surcharge(serve_app, api):
    project = await project_with_owner(serve_app.db)
    base = await api.get(lora_url(project, "cache=true"))
    styled = await api.get(lora_url(project, "lora=tiny-style"))
    zero = await api.get(lora_url(project, "lora=tiny-style:0"))

    assert [r.status_code for r in (base, styled, zero)] == [200] * 3, styled.headers.get("x-error-message")
    assert [r.headers["x-cache"] for r in (base, styled, zero)] == ["MISS"] * 3
    assert (base.headers["x-credits"], styled.headers["x-credits"], zero.headers["x-credits"]) == ("1", "2", "2")
    assert np.abs(pixels(styled.content) - pixels(base.content)).mean() > 1
    assert np.abs(pixels(zero.content) - pixels(base.content)).max() <= 1
    assert await credits.balance(db=serve_app.db, user_id=project.user_id) == 1000 - 5


async def test_an_adapter_at_its_default_weight_is_one_cache_entry_however_it_is_written(serve_app, api):
    # (tiny-routing stays out: the routing test counts its loads per replica.)
    project = await project_with_owner(serve_app.db)
    first = await api.get(lora_url(project, "lora=tiny-style:1.0"))
    second = await api.get(lora_url(project, "lora=tiny-style"))

    assert first.headers["x-cache"] == "MISS" and second.headers["x-cache"] == "HIT"
    assert first.content == second.content


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("lora=watercolour", "watercolour"),
        ("lora=tiny-style:9", "tiny-style:9"),
        ("lora=tiny-style&route=quality/fast", "route"),
    ],
)
async def test_a_bad_adapter_on_get_image_is_a_400_naming_it(serve_app, api, query, named):
    project = await project_with_owner(serve_app.db)
    response = await api.get(f"/p/{project.slug}/image?prompt=a%20fox&{query}")

    assert response.status_code == 400 and response.headers["x-error-code"] == "VALIDATION_ERROR"
    assert named in response.headers["x-error-message"]
    assert await credits.balance(db=serve_app.db, user_id=project.user_id) == 1000


async def test_adapters_are_signed_with_the_rest_of_the_url(serve_app, api):
    project = await project_with_owner(serve_app.db, require_signature=True)
    signed = signed_query(project.secret, "prompt=a fox&model=tiny-lora-sd&lora=tiny-style&seed=3")

    assert (await api.get(f"/p/{project.slug}/image?{signed}")).status_code == 200
    tampered = signed.replace("lora=tiny-style", "lora=tiny-style%3A2")
    assert (await api.get(f"/p/{project.slug}/image?{tampered}")).status_code == 403


def edit(serve_app, key: str, *, idempotency_key: str, image: bytes):
    return openai_client(serve_app, key).images.with_raw_response.edit(
        image=("photo.png", image, "image/png"),
        mask=("mask.png", transparent_square_mask(), "image/png"),
        prompt="a red door",
        size=f"{SIZE}x{SIZE}",
        response_format="b64_json",
        extra_headers={"Idempotency-Key": idempotency_key},
    )


async def test_an_edit_retried_with_its_idempotency_key_replays_and_is_charged_once(serve_app, account):
    user_id, key = account
    first = await asyncio.to_thread(edit, serve_app, key, idempotency_key="edit-1", image=png(gradient()))
    # The same bytes under another file name: the same request.
    retry = await asyncio.to_thread(
        openai_client(serve_app, key).images.with_raw_response.edit,
        image=("renamed.png", png(gradient()), "image/png"),
        mask=("m.png", transparent_square_mask(), "image/png"),
        prompt="a red door",
        size=f"{SIZE}x{SIZE}",
        response_format="b64_json",
        extra_headers={"Idempotency-Key": "edit-1"},
    )

    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.http_response.content == first.http_response.content
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 1


async def test_an_idempotency_key_reused_with_another_image_is_a_422(serve_app, account):
    user_id, key = account
    await asyncio.to_thread(edit, serve_app, key, idempotency_key="edit-2", image=png(gradient()))
    other = png(gradient().transpose(Image.Transpose.FLIP_LEFT_RIGHT))

    with pytest.raises(openai.UnprocessableEntityError):
        await asyncio.to_thread(edit, serve_app, key, idempotency_key="edit-2", image=other)
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000 - 1


def damaged_png() -> str:
    """A PNG whose header is whole (40x24) and whose pixels are cut off."""
    return "data:image/png;base64," + base64.b64encode(png(gradient().resize((40, 24)))[:80]).decode()


async def test_an_upscale_is_admitted_before_its_image_is_decoded(serve_app, api):
    _, broke_key = await user_with_key(serve_app.db, plan="broke")
    user_id, key = await user_with_key(serve_app.db)

    unpaid = await api.post("/api/v1/upscale", json={"image": damaged_png(), "scale": 4}, headers=auth(broke_key))
    paid = await api.post("/api/v1/upscale", json={"image": damaged_png(), "scale": 4}, headers=auth(key))

    assert unpaid.status_code == 402, unpaid.text
    assert paid.status_code == 400 and paid.json()["error"]["field"] == "image", paid.text
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000
    assert await credits.ledger_sum(db=serve_app.db, user_id=user_id) == 1000
