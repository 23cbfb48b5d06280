"""Safety policies on the real Serve application: `tiny-lora-sd` flags and `tiny-block-sd` blocks,
both judged by the stand-in checker, which flags exactly the prompts holding `[unsafe]`."""

import asyncio
import base64
import io
from urllib.parse import quote

import httpx
import openai
import pytest
from PIL import Image

from deployments.diffusion.safety import STAND_IN_MARKER
from tests.factories import checked_balance, project_with_owner, user_with_key

pytestmark = pytest.mark.serve
UNSAFE = f"a fox {STAND_IN_MARKER}"


@pytest.fixture
async def account(serve_app) -> tuple[int, str]:
    return await user_with_key(serve_app.db)


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def generate(api: httpx.AsyncClient, key: str, **fields) -> dict:
    response = await api.post("/api/v1/generate", json={"seed": 5, **fields}, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["data"]


def is_placeholder(data: bytes) -> bool:
    """The placeholder is a palette PNG; a drawn image is true-colour."""
    image = Image.open(io.BytesIO(data))
    return image.format == "PNG" and image.mode == "P"


async def test_a_flag_model_returns_each_image_with_its_verdict(serve_app, api, account):
    user_id, key = account
    unsafe = await generate(api, key, prompt=UNSAFE, model="tiny-lora-sd", count=2)
    safe = await generate(api, key, prompt="a fox", model="tiny-lora-sd")

    assert [(i["nsfw"], i["blocked"]) for i in unsafe["images"]] == [(True, False), (True, False)]
    assert [(i["nsfw"], i["blocked"]) for i in safe["images"]] == [(False, False)]
    drawn = (await api.get(unsafe["image"])).content
    assert not is_placeholder(drawn) and Image.open(io.BytesIO(drawn)).size == (64, 64)
    assert await checked_balance(serve_app.db, user_id) == 1000 - 3


async def test_a_model_without_a_policy_reports_no_verdict(api, account):
    _, key = account
    data = await generate(api, key, prompt=UNSAFE, model="tiny-sd")
    assert (data["images"][0]["nsfw"], data["images"][0]["blocked"]) == (None, False)


async def test_a_block_model_answers_placeholders_and_refunds_them(serve_app, api, account):
    user_id, key = account
    data = await generate(api, key, prompt=UNSAFE, model="tiny-block-sd", count=2)

    assert [(i["nsfw"], i["blocked"]) for i in data["images"]] == [(True, True), (True, True)]
    for image in data["images"]:
        withheld = (await api.get(image["image"])).content
        assert is_placeholder(withheld) and Image.open(io.BytesIO(withheld)).size == (64, 64)
    assert await checked_balance(serve_app.db, user_id) == 1000


async def test_a_block_model_charges_and_returns_what_it_does_not_flag(serve_app, api, account):
    user_id, key = account
    data = await generate(api, key, prompt="a fox", model="tiny-block-sd")

    assert (data["images"][0]["nsfw"], data["images"][0]["blocked"]) == (False, False)
    assert not is_placeholder((await api.get(data["image"])).content)
    assert await checked_balance(serve_app.db, user_id) == 1000 - 1


async def test_batch_items_each_carry_their_own_verdict_and_refund(serve_app, api, account):
    user_id, key = account
    response = await api.post(
        "/api/v1/generate",
        json={
            "items": [
                {"prompt": UNSAFE, "model": "tiny-block-sd"},
                {"prompt": "a fox", "model": "tiny-block-sd"},
                {"prompt": UNSAFE, "model": "tiny-lora-sd"},
            ]
        },
        headers=auth(key),
    )

    assert response.status_code == 200, response.text
    verdicts = [(r["images"][0]["nsfw"], r["images"][0]["blocked"]) for r in response.json()["data"]["results"]]
    assert verdicts == [(True, True), (False, False), (True, False)]
    assert await checked_balance(serve_app.db, user_id) == 1000 - 2


def openai_client(serve_app, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{serve_app.base_url}/v1", api_key=key, timeout=120)


async def test_openai_objects_carry_the_verdict_only_from_models_that_check(serve_app, account):
    user_id, key = account
    client = openai_client(serve_app, key)

    def draw(model: str, prompt: str):
        return client.images.generate(model=model, prompt=prompt, response_format="b64_json", extra_body={"seed": 1})

    flagged = await asyncio.to_thread(draw, "tiny-lora-sd", UNSAFE)
    blocked = await asyncio.to_thread(draw, "tiny-block-sd", UNSAFE)
    unchecked = await asyncio.to_thread(draw, "tiny-sd", UNSAFE)

    assert (flagged.data[0].nsfw, flagged.data[0].blocked) == (True, False)
    assert (blocked.data[0].nsfw, blocked.data[0].blocked) == (True, True)
    assert is_placeholder(base64.b64decode(blocked.data[0].b64_json))
    assert "nsfw" not in unchecked.data[0].model_dump(exclude_none=True)
    assert await checked_balance(serve_app.db, user_id) == 1000 - 2


async def test_a_stream_on_a_block_model_shows_no_preview_and_completes_with_the_placeholder(serve_app, account):
    user_id, key = account

    def stream() -> list:
        return list(
            openai_client(serve_app, key).images.generate(
                model="tiny-block-sd",
                prompt=UNSAFE,
                stream=True,
                partial_images=2,
                extra_body={"steps": 4, "seed": 3},
            )
        )

    events = await asyncio.to_thread(stream)

    assert [e.type for e in events] == ["image_generation.completed"]
    assert (events[0].nsfw, events[0].blocked) == (True, True)
    assert is_placeholder(base64.b64decode(events[0].b64_json))
    assert await checked_balance(serve_app.db, user_id) == 1000


def image_url(project, prompt: str, model: str) -> str:
    return f"/p/{project.slug}/image?prompt={quote(prompt)}&model={model}&seed=4"


async def test_get_image_reports_the_verdict_in_headers_also_on_a_cache_hit(serve_app, api):
    project = await project_with_owner(serve_app.db)
    flagged = await api.get(image_url(project, UNSAFE, "tiny-lora-sd"))
    hit = await api.get(image_url(project, UNSAFE, "tiny-lora-sd"))
    safe = await api.get(image_url(project, "a fox", "tiny-lora-sd"))
    unchecked = await api.get(image_url(project, UNSAFE, "tiny-sd"))

    assert flagged.status_code == 200 and flagged.headers["content-type"] == "image/webp"
    assert (flagged.headers["x-pixelray-nsfw"], flagged.headers["x-pixelray-blocked"]) == ("true", "false")
    assert hit.headers["x-cache"] == "HIT" and hit.headers["x-pixelray-nsfw"] == "true"
    assert safe.headers["x-pixelray-nsfw"] == "false"
    assert "x-pixelray-nsfw" not in unchecked.headers


async def test_get_image_on_a_block_model_answers_the_placeholder_free(serve_app, api):
    project = await project_with_owner(serve_app.db)
    blocked = await api.get(image_url(project, UNSAFE, "tiny-block-sd"))
    hit = await api.get(image_url(project, UNSAFE, "tiny-block-sd"))

    assert blocked.status_code == 200 and blocked.headers["content-type"] == "image/png"
    assert is_placeholder(blocked.content)
    assert (blocked.headers["x-pixelray-blocked"], blocked.headers["x-credits"]) == ("true", "0")
    assert hit.headers["x-cache"] == "HIT" and hit.headers["x-pixelray-blocked"] == "true"
    assert hit.content == blocked.content
    assert await checked_balance(serve_app.db, project.user_id) == 1000


async def test_the_catalog_lists_each_models_policy(api):
    models = {m["slug"]: m for m in (await api.get("/api/v1/models")).json()["data"]["models"]}
    policies = [models[slug]["safety"] for slug in ("tiny-sd", "tiny-lora-sd", "tiny-block-sd")]
    assert policies == ["none", "flag", "block"]
