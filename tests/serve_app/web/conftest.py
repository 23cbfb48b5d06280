"""The console in process: the FastAPI app around a real AppState on a SQLite file (no Serve,
no models), and browser-like clients that log in through the console's own forms."""

import re
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from tests.factories import app_args

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no CSRF token"
    return found.group(1)


class Browser:
    """An httpx client that keeps cookies and fills in the console's forms like a browser does."""

    def __init__(self, http: httpx.AsyncClient):
        self.http = http
        self.name = ""
        self.password = ""

    async def form_post(self, page: str, action: str, data: dict, **kwargs) -> httpx.Response:
        token = csrf_of((await self.http.get(page)).text)
        return await self.http.post(action, data={**data, "csrf_token": token}, **kwargs)

    async def sign_up(self, name: str | None = None, password: str = "correct horse battery") -> httpx.Response:
        self.name, self.password = name or f"user-{secrets.token_hex(4)}", password
        return await self.form_post("/signup", "/signup", {"name": self.name, "password": password})

    async def log_in(self, name: str, password: str) -> httpx.Response:
        return await self.form_post("/login", "/login", {"name": name, "password": password})

    async def htmx_post(self, page: str, action: str, data: dict | None = None, **kwargs) -> httpx.Response:
        """Like htmx does: the session's CSRF token in a header, read from the page."""
        token = csrf_of((await self.http.get(page)).text)
        headers = {"HX-Request": "true", "X-CSRF-Token": token}
        return await self.http.post(action, data=data or {}, headers=headers, **kwargs)


@pytest.fixture
async def state(tmp_path) -> AsyncIterator[AppState]:
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path)))
    app_state = AppState.build(config, model_handles={})
    await app_state.startup()
    yield app_state
    await app_state.shutdown()


@pytest.fixture
async def browser_factory(state: AppState):
    clients: list[httpx.AsyncClient] = []

    def make(address: str = "127.0.0.1") -> Browser:
        transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False, client=(address, 40000))
        http = httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000")
        clients.append(http)
        return Browser(http)

    yield make
    for http in clients:
        await http.aclose()


@pytest.fixture
async def browser(browser_factory) -> Browser:
    return browser_factory()
