"""Every generate field beyond its bounds is a 400 naming it, before any model call or charge
(the FastAPI app in-process, without models)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.services import credits
from tests.factories import user_with_key


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.mark.parametrize("path", ["/api/v1/generate", "/api/v1/generate/product", "/api/v1/generate/logo"])
@pytest.mark.parametrize(
    ("body", "field", "hint"),
    [
        ({"prompt": "a", "aspect_ratio": "7:3"}, "aspect_ratio", "'16:9'"),
        ({"prompt": "a", "aspect_ratio": "1:1", "height": 64}, "aspect_ratio", "not both"),
        ({"prompt": "a", "count": 0}, "count", "1–100"),
        ({"prompt": "a", "count": 5}, "count", "1–4"),
        ({"prompt": "a", "mode": "outpaint"}, "mode", "'inpaint'"),
        ({"prompt": "a", "mode": "img2img"}, "image", "input image"),
        ({"prompt": "a", "image": "data:image/png;base64,AAAA"}, "image", "img2img"),
        ({"prompt": "a", "strength": 0.5}, "strength", "img2img"),
        ({"prompt": "a", "strength": 1.5}, "strength", "1"),
        ({"prompt": "a", "output_format": "gif"}, "output_format", "'webp'"),
        ({"prompt": "a", "guidance_scale": 31}, "guidance_scale", "0–30"),
        ({"prompt": "a", "width": 264}, "width", "64–256"),
        ({"items": []}, "items", "1–100 items"),
        # This app has no scraper deployment to download with.
        ({"prompt": "a", "mode": "img2img", "image": "https://example.org/a.png"}, "image", "as a data: URL"),
        ({"items": [{"prompt": "a"}], "prompt": "a"}, "prompt", "unknown field"),
    ],
)
async def test_each_invalid_field_is_a_400_naming_it_and_costs_nothing(client, state, path, body, field, hint):
    user_id, key = await user_with_key(state.db)
    response = await client.post(path, json=body, headers={"Authorization": f"Bearer {key}"})

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field and hint in error["message"]
    assert await credits.balance(db=state.db, user_id=user_id) == 1000
