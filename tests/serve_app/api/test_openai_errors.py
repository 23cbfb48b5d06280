"""OpenAI's error shape on /v1/* paths, rendered by the same handlers as the native envelope."""

from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.errors import GenerationFailed, InsufficientCredits, RateLimited, ServiceUnavailable
from tests.factories import user_with_key

RAISED = {
    "402": InsufficientCredits(balance=0, cost=2),
    "429": RateLimited("slow down", retry_after=12),
    "502": GenerationFailed("model x failed"),
    "503": ServiceUnavailable("busy", retry_after=7),
}


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(state)

    @app.get("/v1/raise/{kind}")
    async def _raise(kind: str) -> None:
        raise RAISED.get(kind, RuntimeError("secret internals"))

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def openai_error(response: httpx.Response, status: int, kind: str) -> dict:
    assert response.status_code == status
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["type"] == kind
    return body["error"]


async def test_insufficient_credits_is_openais_insufficient_quota_and_not_retried(client):
    response = await client.get("/v1/raise/402")
    error = openai_error(response, 429, "insufficient_quota")
    assert error["code"] == "insufficient_quota" and "costs 2 credits" in error["message"]
    assert response.headers["x-should-retry"] == "false"


async def test_a_refunded_generation_failure_is_a_server_error_not_retried(client):
    response = await client.get("/v1/raise/502")
    assert openai_error(response, 502, "server_error")["code"] == "generation_failed"
    assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(("kind", "status", "retry_after"), [("429", 429, "12"), ("503", 503, "7")])
async def test_limits_and_overload_keep_retry_after_and_leave_retrying_to_the_client(client, kind, status, retry_after):
    response = await client.get(f"/v1/raise/{kind}")
    openai_error(response, status, "rate_limit_error" if status == 429 else "server_error")
    assert response.headers["retry-after"] == retry_after
    assert "x-should-retry" not in response.headers


async def test_validation_errors_name_the_param(client, state):
    _, key = await user_with_key(state.db)
    response = await client.post(
        "/v1/images/generations", json={"prompt": "a", "n": 0}, headers={"Authorization": f"Bearer {key}"}
    )
    error = openai_error(response, 400, "invalid_request_error")
    assert response.headers["x-request-id"]
    assert error["param"] == "n" and error["code"] == "invalid_request"


async def test_a_streamed_generation_refuses_an_idempotency_key_it_could_not_honour(client, state):
    _, key = await user_with_key(state.db)
    response = await client.post(
        "/v1/images/generations",
        json={"prompt": "a", "stream": True},
        headers={"Authorization": f"Bearer {key}", "Idempotency-Key": "stream-1"},
    )
    error = openai_error(response, 400, "invalid_request_error")
    assert error["param"] == "Idempotency-Key" and "stream" in error["message"]


async def test_missing_key_unknown_path_and_unexpected_errors_use_the_openai_shape(client):
    unauthorized = await client.get("/v1/models")
    assert openai_error(unauthorized, 401, "authentication_error")["code"] == "invalid_api_key"
    assert unauthorized.headers["x-request-id"]
    openai_error(await client.get("/v1/nowhere"), 404, "invalid_request_error")
    assert "secret" not in openai_error(await client.get("/v1/raise/other"), 500, "server_error")["message"]


async def test_native_paths_keep_the_envelope(client):
    response = await client.get("/api/v1/nowhere")
    assert response.json()["success"] is False
