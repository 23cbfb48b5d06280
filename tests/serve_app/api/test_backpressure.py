"""A model whose queue is full: a fast 503 with Retry-After, and the balance unchanged."""

from collections.abc import AsyncIterator

import httpx
import pytest
from ray.serve.exceptions import BackPressureError

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from serve_app.services import credits
from tests.factories import app_args, user_with_key


class FakeFullQueueHandle:
    """A deployment handle whose caller-side queue is full: Serve raises BackPressureError
    from the response, as the real handle does once max_queued_requests is reached."""

    def __init__(self, retry_after_s: float | None = None):
        self.generate = self
        self.retry_after_s = retry_after_s
        self.calls = 0

    def remote(self, params):
        self.calls += 1
        return self._response()

    async def _response(self):
        raise BackPressureError(num_queued_requests=64, max_queued_requests=64, retry_after_s=self.retry_after_s)


@pytest.fixture
def handle() -> FakeFullQueueHandle:
    return FakeFullQueueHandle(retry_after_s=2.5)


@pytest.fixture
async def state(tmp_path, handle) -> AsyncIterator[AppState]:
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path)))
    app_state = AppState.build(config, model_handles={"tiny-sd": handle})
    await app_state.startup()
    yield app_state
    await app_state.shutdown()


@pytest.fixture
async def client(state) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def test_a_full_model_queue_is_a_503_with_retry_after_and_no_charge(client, state, handle):
    user_id, key = await user_with_key(state.db, config=state.config)
    before = await credits.balance(db=state.db, user_id=user_id)

    response = await client.post(
        "/api/v1/generate", json={"prompt": "a fox"}, headers={"Authorization": f"Bearer {key}"}
    )

    assert handle.calls == 1
    assert response.status_code == 503
    assert response.headers["retry-after"] == "3"
    error = response.json()["error"]
    assert (error["code"], error["retry_after"]) == ("overloaded", 3)
    assert "tiny-sd" in error["message"]
    assert await credits.balance(db=state.db, user_id=user_id) == before
    assert await credits.ledger_sum(db=state.db, user_id=user_id) == before
