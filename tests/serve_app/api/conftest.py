"""The FastAPI app in process, around a real AppState on a SQLite file (no Serve, no models)."""

from collections.abc import AsyncIterator

import pytest

from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from tests.factories import app_args


@pytest.fixture
async def state(tmp_path) -> AsyncIterator[AppState]:
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path)))
    app_state = AppState.build(config, model_handles={})
    await app_state.startup()
    yield app_state
    await app_state.shutdown()
