"""Prompt enhance and build on the real Serve application, whose enhancer runs builtin:tiny-lm."""

import httpx
import pytest

from deployments.prompt_enhancer.rules import TONES
from deployments.protocol import PROMPT_MAX_CHARS, EnhanceParams
from tests.factories import user_with_key

pytestmark = pytest.mark.serve


@pytest.fixture
async def key(serve_app) -> str:
    _, plaintext = await user_with_key(serve_app.db)
    return plaintext


async def post(api: httpx.AsyncClient, path: str, key: str, body: dict) -> httpx.Response:
    return await api.post(f"/api/v1/prompt/{path}", json=body, headers={"Authorization": f"Bearer {key}"})


async def test_the_llm_deployment_answers_and_its_gibberish_falls_back_to_the_rules(serve_app):
    from ray import serve

    handle = serve.get_deployment_handle("prompt-enhancer", app_name="pixelray")
    result = await handle.enhance.remote(EnhanceParams(prompt="a red fox", tone="dark", seed=3))

    assert result.enhancer == "rules"
    assert result.prompt.startswith("a red fox, dark style")


async def test_enhance_returns_a_richer_prompt_in_the_requested_tone(api, key):
    response = await post(api, "enhance", key, {"prompt": "a lighthouse", "tone": "cinematic"})

    assert response.status_code == 200, response.text
    data = response.json()["data"]
    assert data["enhancer"] == "rules", "tiny-lm writes noise, which the guard refuses"
    assert data["prompt"].startswith("a lighthouse, ")
    for term in (TONES["cinematic"].lighting, TONES["cinematic"].quality):
        assert term in data["prompt"]


async def test_enhance_of_the_longest_prompt_stays_within_the_limit(api, key):
    response = await post(api, "enhance", key, {"prompt": "fox " * (PROMPT_MAX_CHARS // 4)})
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["prompt"]) <= PROMPT_MAX_CHARS


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x" * 2001}, "prompt"),
        ({"prompt": "a fox", "tone": "sarcastic"}, "tone"),
    ],
)
async def test_bad_enhance_input_is_a_400_naming_the_field(api, key, body, field):
    response = await post(api, "enhance", key, body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == field


async def test_prompt_tools_need_a_key(api):
    for path, body in (("enhance", {"prompt": "a fox"}), ("build", {"subject": "a fox"})):
        assert (await api.post(f"/api/v1/prompt/{path}", json=body)).status_code == 401


async def test_build_uses_every_field_in_reading_order(api, key):
    body = {
        "subject": "a red fox",
        "setting": "in a snowy birch forest",
        "mood": "serene",
        "art_style": "watercolor",
        "lighting": "golden hour backlight",
        "camera": "85mm close-up",
        "extras": "highly detailed",
    }
    response = await post(api, "build", key, body)

    assert response.status_code == 200, response.text
    assert response.json()["data"]["prompt"] == (
        "a red fox, in a snowy birch forest, serene mood, watercolor style, golden hour backlight, "
        "85mm close-up, highly detailed"
    )


@pytest.mark.parametrize("field", ["subject", "setting", "mood", "art_style", "lighting", "camera", "extras"])
async def test_build_with_a_single_field_gives_a_prompt_with_it(api, key, field):
    response = await post(api, "build", key, {field: "  misty  dawn "})
    assert response.status_code == 200, response.text
    assert response.json()["data"]["prompt"].startswith("misty dawn")


@pytest.mark.parametrize("body", [{}, {"subject": "   ", "mood": None}])
async def test_build_with_no_field_is_a_400_listing_the_fields(api, key, body):
    response = await post(api, "build", key, body)
    assert response.status_code == 400
    assert "give at least one of: subject, setting" in response.json()["error"]["message"]


async def test_build_field_over_300_characters_is_a_400(api, key):
    response = await post(api, "build", key, {"subject": "a fox", "extras": "x" * 301})
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "extras"


async def test_generate_with_enhance_returns_the_revised_prompt_it_drew(api, key, serve_app):
    headers = {"Authorization": f"Bearer {key}"}
    enhanced = await api.post("/api/v1/generate", json={"prompt": "a fox", "enhance": True}, headers=headers)
    plain = await api.post("/api/v1/generate", json={"prompt": "a fox"}, headers=headers)

    assert enhanced.status_code == 200, enhanced.text
    revised = enhanced.json()["data"]["revised_prompt"]
    assert revised.startswith("a fox, ") and len(revised) > len("a fox, ")
    assert plain.json()["data"]["revised_prompt"] is None


async def test_page_prompt_goes_through_the_llm_deployment_only_when_one_is_configured(serve_app):
    from ray import serve

    from deployments.protocol import PageInfo
    from serve_app.services.prompts import PromptService

    page = PageInfo(url="https://example.org/", title="Lighthouses of Brittany", description="A coastal guide")
    with_llm = PromptService(serve.get_deployment_handle("prompt-enhancer", app_name="pixelray"), timeout_s=30)

    result = await with_llm.page_prompt(page, tone="photographic")
    assert result.prompt.startswith("Lighthouses of Brittany. A coastal guide")
    assert await PromptService(None, timeout_s=30).page_prompt(page, tone="photographic") is None
