"""CORS: any origin by default (preflight included, Authorization allowed); strict_origins restricts it."""

from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from tests.factories import app_args

PREFLIGHT = {
    "Origin": "https://example.org",
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def client_for(tmp_path, **cors) -> AsyncIterator[httpx.AsyncClient]:
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), cors=cors))
    app = create_app(AppState.build(config, model_handles={}))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def open_api(tmp_path):
    async for http in client_for(tmp_path):
        yield http


@pytest.fixture
async def strict_api(tmp_path):
    async for http in client_for(tmp_path, strict_origins=True, allowed_origins=["https://app.example.com"]):
        yield http


async def test_a_preflight_from_any_origin_with_authorization_is_allowed_by_default(open_api):
    response = await open_api.options("/api/v1/generate", headers=PREFLIGHT)

    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert "POST" in response.headers["access-control-allow-methods"]


async def test_actual_responses_errors_included_carry_cors_headers(open_api):
    response = await open_api.post("/api/v1/generate", json={"prompt": "a"}, headers={"Origin": "https://example.org"})

    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_strict_origins_refuse_other_origins(strict_api):
    response = await strict_api.options("/api/v1/generate", headers=PREFLIGHT)

    assert response.status_code == 400
    assert "access-control-allow-origin" not in response.headers
    plain = await strict_api.get("/api/v1/models", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in plain.headers


async def test_strict_origins_allow_the_listed_ones(strict_api):
    response = await strict_api.options("/api/v1/generate", headers={**PREFLIGHT, "Origin": "https://app.example.com"})
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"


def test_an_allowed_origin_with_a_path_is_a_config_error(tmp_path):
    with pytest.raises(Exception, match="not an origin"):
        parse_app_config(
            app_args(
                tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), cors={"allowed_origins": ["https://a.example/x"]}
            )
        )
