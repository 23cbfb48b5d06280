"""Inputs at and past their bounds are 400s naming the field, on the FastAPI app in-process:
integer query parameters, ids in paths, prompts, and the `Allow` header of a 405."""

from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from tests.factories import user_with_key

HUGE = str(2**63)


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def auth(state) -> dict[str, str]:
    _, key = await user_with_key(state.db)
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize("path", ["/api/v1/images", "/api/v1/urls/"])
@pytest.mark.parametrize(("name", "value"), [("offset", HUGE), ("offset", "-1"), ("limit", HUGE), ("limit", "0")])
async def test_an_integer_query_parameter_out_of_bounds_is_a_400_naming_it(client, auth, path, name, value):
    response = await client.get(path, params={name: value}, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"] == name


@pytest.mark.parametrize("path", ["/api/v1/images", "/api/v1/urls/"])
async def test_the_largest_offset_is_an_empty_page(client, auth, path):
    response = await client.get(path, params={"offset": "1000000000"}, headers=auth)
    assert response.status_code == 200, response.text


async def test_an_expiry_past_64_bits_is_a_400(client):
    response = await client.get("/p/some-project/image", params={"prompt": "a", "exp": HUGE})
    assert response.status_code == 400
    assert response.headers["x-error-code"] == "VALIDATION_ERROR"


@pytest.mark.parametrize("path", ["/api/v1/images/img%00x", "/api/v1/urls/a%00b/", "/api/v1/jobs/job%20x", "/img/%00/"])
async def test_an_id_no_resource_can_have_is_a_400_before_any_lookup(client, auth, path):
    response = await client.get(path, headers=auth)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["field"].endswith("_id")


async def test_a_project_name_no_project_can_have_is_a_404_image(client):
    response = await client.get("/p/a%00b/image", params={"prompt": "a"})
    assert response.status_code == 404
    assert response.headers["x-error-code"] == "PROJECT_NOT_FOUND"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/generate", {"prompt": "  \n "}, "prompt"),
        ("/api/v1/generate", {"prompt": "a\x00b"}, "prompt"),
        ("/api/v1/generate", {"items": [{"prompt": " "}]}, None),
        ("/v1/images/generations", {"prompt": "\t"}, "prompt"),
        ("/api/v1/prompt/enhance", {"prompt": "fox\x1b[31m"}, "prompt"),
        ("/api/v1/generate", {"url": "https://example.org/\x00"}, "url"),
    ],
)
async def test_blank_prompts_and_control_characters_are_400s(client, auth, path, body, field):
    response = await client.post(path, json=body, headers=auth)
    if field is None:
        # The batch form answers per item.
        item = response.json()["data"]["results"][0]
        assert item["success"] is False and item["error"]["field"] == "items.0.prompt"
        return
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.get("field", error.get("param")) == field


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", "/api/v1/settings", "GET, PATCH"),
        ("POST", "/api/v1/images/img_x", "DELETE, GET"),
        ("GET", "/api/v1/generate", "POST"),
    ],
)
async def test_a_405_lists_every_allowed_method(client, auth, method, path, allowed):
    response = await client.request(method, path, headers=auth)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert allowed in response.json()["error"]["message"]


async def test_the_openapi_schema_states_the_cross_field_rules(client):
    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    rules = schemas["GenerateRequest"]["allOf"]
    aspect = next(rule for rule in rules if rule["if"].get("required") == ["aspect_ratio"])
    assert aspect["then"]["properties"]["width"] == {"type": "null"}
    img2img = next(rule for rule in rules if rule["if"].get("required") == ["mode"])
    assert img2img["then"]["required"] == ["image"]
    assert img2img["else"]["properties"]["strength"] == {"type": "null"}
    assert "excludes `width`" in schemas["GenerateRequest"]["description"]
    assert len(schemas["BuildRequest"]["anyOf"]) == 7


async def test_the_openapi_schema_states_the_text_rules_as_patterns(client):
    import re

    schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    prompt = re.compile(schemas["GenerateRequest"]["properties"]["prompt"]["pattern"])
    assert prompt.match("a fox\n\tin snow") and not prompt.match("a\x00fox") and not prompt.match("  \n")
    negative = schemas["GenerateRequest"]["properties"]["negative_prompt"]
    assert any("pattern" in member for member in [negative, *negative.get("anyOf", [])])
    assert schemas["HeroRequest"]["properties"]["url"]["pattern"].startswith("^[hH]")


async def test_the_openapi_schema_documents_400s_and_413s_not_fastapis_422(client):
    document = (await client.get("/openapi.json")).json()
    responses = document["paths"]["/api/v1/images"]["get"]["responses"]
    assert "400" in responses and "422" not in responses
    assert "413" in document["paths"]["/api/v1/generate"]["post"]["responses"]
    assert "HTTPValidationError" not in document["components"]["schemas"]


async def test_a_422_a_route_sends_itself_stays_documented(client):
    document = (await client.get("/openapi.json")).json()
    for path in (
        "/api/v1/generate",
        "/api/v1/generate/product",
        "/api/v1/generate/logo",
        "/v1/images/generations",
        "/v1/images/edits",
    ):
        assert "422" in document["paths"][path]["post"]["responses"], f"{path}: a reused Idempotency-Key is a 422"
