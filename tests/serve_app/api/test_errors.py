"""The error envelope, rendered in one place, on the FastAPI app in-process (no model involved)."""

from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.errors import GenerationFailed, ServiceUnavailable
from tests.factories import user_with_key


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(state)

    @app.get("/raise/{kind}")
    async def _raise(kind: str) -> None:
        raise {"502": GenerationFailed("model x failed"), "503": ServiceUnavailable("busy", retry_after=7)}.get(
            kind, RuntimeError("secret internals")
        )

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def assert_envelope(response: httpx.Response, status: int, code: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert body["success"] is False and body["error"]["code"] == code
    assert body["request_id"].startswith("req_")
    return body["error"]


async def test_missing_key_is_401_with_the_envelope(client):
    response = await client.post("/api/v1/generate", json={"prompt": "a"})
    assert_envelope(response, 401, "unauthorized")
    assert response.headers["x-request-id"] == response.json()["request_id"]
    assert response.headers["www-authenticate"] == "Bearer"


async def test_validation_error_names_the_field_and_the_range(client, state):
    _, key = await user_with_key(state.db)
    response = await client.post(
        "/api/v1/generate",
        json={"prompt": "a", "num_inference_steps": 99},
        headers={"Authorization": f"Bearer {key}"},
    )
    error = assert_envelope(response, 400, "invalid_request")
    assert error["field"] == "num_inference_steps" and "1–50" in error["message"]


async def test_unknown_model_lists_the_known_ones_before_any_model_call(client, state):
    _, key = await user_with_key(state.db)
    response = await client.post(
        "/api/v1/generate", json={"prompt": "a", "model": "dall-e"}, headers={"Authorization": f"Token {key}"}
    )
    error = assert_envelope(response, 400, "unknown_model")
    assert "known models: tiny-sd" in error["message"]


async def test_typed_errors_keep_their_status_and_headers(client):
    assert_envelope(await client.get("/raise/502"), 502, "generation_failed")
    response = await client.get("/raise/503")
    error = assert_envelope(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "7" and error["retry_after"] == 7


async def test_unexpected_errors_are_500_without_internals(client):
    response = await client.get("/raise/other")
    error = assert_envelope(response, 500, "internal_error")
    assert "secret" not in error["message"]


async def test_unknown_route_and_method_use_the_envelope(client):
    assert_envelope(await client.get("/nowhere"), 404, "not_found")
    assert_envelope(await client.get("/api/v1/generate"), 405, "method_not_allowed")


async def test_a_request_id_from_the_proxy_is_reused(client):
    response = await client.get("/nowhere", headers={"X-Request-Id": "abc-123"})
    assert response.json()["request_id"] == "abc-123"
