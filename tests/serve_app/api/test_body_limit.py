"""Body limits and the order of checks on large bodies, on the FastAPI app in-process: a body over
its route's limit is a 413 before it is read, a large body is read only for a valid key, and an
img2img input is decoded only once the request is paid for."""

import base64
import io
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image
from sqlmodel import select

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from serve_app.db.models import UsageRecord
from serve_app.services import credits
from tests.factories import app_args, tiny_inpaint_entry, tiny_model_entry, user_with_key

MIB = 1024 * 1024


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


class CountingBody:
    """A streamed body of `chunks` chunks of 64 KiB that records how many were pulled."""

    def __init__(self, chunks: int):
        self.chunks = chunks
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.chunks):
            self.pulled += 1
            yield b"x" * 65536


def assert_error(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["code"] == code and body["request_id"]
    return body["error"]


async def test_a_declared_body_over_the_general_limit_is_a_413_before_a_byte_is_read(client, state):
    _, key = await user_with_key(state.db)
    body = CountingBody(2)
    response = await client.post(
        "/api/v1/prompt/enhance",
        content=body,
        headers={"Authorization": f"Bearer {key}", "Content-Length": str(2 * 65536)},
    )
    error = assert_error(response, 413, "payload_too_large")
    assert "65,536 bytes" in error["message"]
    assert body.pulled == 0


async def test_a_declared_body_over_the_generate_limit_is_a_413_before_a_byte_is_read(client):
    body = CountingBody(2)
    response = await client.post("/api/v1/generate", content=body, headers={"Content-Length": str(100 * MIB)})
    assert_error(response, 413, "payload_too_large")
    assert body.pulled == 0


async def test_a_large_body_without_a_valid_key_is_a_401_before_a_byte_is_read(client):
    body = CountingBody(80)
    response = await client.post(
        "/api/v1/generate",
        content=body,
        headers={"Content-Length": str(80 * 65536), "Authorization": "Bearer pxr_not-a-key"},
    )
    assert_error(response, 401, "unauthorized")
    assert body.pulled == 0


async def test_a_chunked_body_is_cut_off_at_the_limit(client, state):
    _, key = await user_with_key(state.db)
    body = CountingBody(400)  # 25 MiB, without a Content-Length
    response = await client.post("/api/v1/generate", content=body, headers={"Authorization": f"Bearer {key}"})
    assert_error(response, 413, "payload_too_large")
    assert body.pulled <= 16 * MIB // 65536 + 1


def png_data_url(size: int) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), (200, 40, 40)).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


async def test_a_10_mib_img2img_data_url_fits_the_generate_limit(client, state):
    _, key = await user_with_key(state.db)
    image = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * MIB - 8)).decode()
    response = await client.post(
        "/api/v1/generate",
        json={"prompt": "a", "mode": "img2img", "image": image},
        headers={"Authorization": f"Bearer {key}"},
    )
    # Past the size limit and admission: refused as an image, not as a body.
    assert_error(response, 400, "invalid_request")


async def test_a_key_without_credits_gets_its_402_before_the_input_is_decoded(client, state):
    _, key = await user_with_key(state.db, plan="broke")
    # Not an image at all: were it decoded before admission, this would be a 400.
    undecodable = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 1000).decode()
    response = await client.post(
        "/api/v1/generate",
        json={"prompt": "a", "mode": "img2img", "image": undecodable, "width": 64, "height": 64},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_error(response, 402, "insufficient_credits")


async def test_an_input_that_fails_to_decode_after_admission_is_refunded(client, state):
    user_id, key = await user_with_key(state.db)
    undecodable = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 1000).decode()
    response = await client.post(
        "/api/v1/generate",
        json={"prompt": "a", "mode": "img2img", "image": undecodable},
        headers={"Authorization": f"Bearer {key}"},
    )
    error = assert_error(response, 400, "invalid_request")
    assert error["field"] == "image" and "damaged or incomplete" in error["message"]
    assert await credits.balance(db=state.db, user_id=user_id) == 1000
    async with state.db.read() as session:
        records = (await session.exec(select(UsageRecord).where(UsageRecord.user_id == user_id))).all()
    assert [record.status for record in records] == ["failed"]


@pytest.fixture
async def inpainting_client(tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """An app whose catalog holds an inpainting model (no replicas: inputs are refused before one runs)."""
    # Two models' queues: room for them in the ingress.
    ingress = {"num_replicas": 1, "max_ongoing_requests": 512, "ray_actor_options": {"num_cpus": 0}}
    models = [tiny_model_entry(), tiny_inpaint_entry()]
    config = parse_app_config(
        app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), models=models, ingress=ingress)
    )
    app_state = AppState.build(config, model_handles={})
    await app_state.startup()
    transport = httpx.ASGITransport(app=create_app(app_state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        http.state = app_state
        yield http
    await app_state.shutdown()


UNDECODABLE = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"junk" * 1000).decode()


async def test_a_key_without_credits_gets_its_402_before_the_inpainting_inputs_are_decoded(inpainting_client):
    _, key = await user_with_key(inpainting_client.state.db, plan="broke")
    response = await inpainting_client.post(
        "/api/v1/generate",
        json={"prompt": "a", "model": "tiny-inpaint", "mode": "inpaint", "image": UNDECODABLE, "mask": UNDECODABLE},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert_error(response, 402, "insufficient_credits")


async def test_an_edit_without_credits_is_refused_before_its_uploads_are_decoded(inpainting_client):
    _, key = await user_with_key(inpainting_client.state.db, plan="broke")
    response = await inpainting_client.post(
        "/v1/images/edits",
        data={"prompt": "a"},
        files={"image": ("a.png", b"\x89PNG\r\n\x1a\n" + b"junk" * 1000, "image/png")},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert response.status_code == 429 and response.json()["error"]["code"] == "insufficient_quota"


async def test_a_mask_that_fails_to_decode_after_admission_is_refunded(inpainting_client):
    state = inpainting_client.state
    user_id, key = await user_with_key(state.db)
    response = await inpainting_client.post(
        "/api/v1/generate",
        json={
            "prompt": "a",
            "model": "tiny-inpaint",
            "mode": "inpaint",
            "image": png_data_url(64),
            "mask": UNDECODABLE,
        },
        headers={"Authorization": f"Bearer {key}"},
    )
    error = assert_error(response, 400, "invalid_request")
    assert error["field"] == "mask" and "damaged or incomplete" in error["message"]
    assert await credits.balance(db=state.db, user_id=user_id) == 1000
    async with state.db.read() as session:
        records = (await session.exec(select(UsageRecord).where(UsageRecord.user_id == user_id))).all()
    assert [record.status for record in records] == ["failed"]


@pytest.mark.parametrize("path", ["/v1/images/edits", "/api/v1/upscale"])
async def test_image_routes_take_a_large_body_only_for_a_valid_key(client, path):
    body = CountingBody(80)
    response = await client.post(
        path, content=body, headers={"Content-Length": str(80 * 65536), "Authorization": "Bearer pxr_not-a-key"}
    )
    assert response.status_code == 401
    assert body.pulled == 0
