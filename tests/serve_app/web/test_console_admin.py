"""The server's storage switch on the admin page (non-admins get 403: test_console_security):
behind the CSRF token, and what it changes: new API generations of users who did not turn
storage off answer with hosted URLs or data URLs. The API runs the real tiny model in process,
on SQLite and PostgreSQL."""

import httpx
import pytest

from serve_app.api.main import create_app
from serve_app.api.state import AppState
from serve_app.config import parse_app_config
from serve_app.db.models import ServerSetting
from serve_app.services import accounts, users
from tests.factories import app_args, user_with_key
from tests.serve_app.services.test_generation import InProcessHandle, backend  # noqa: F401  (fixture)
from tests.serve_app.web.conftest import Browser


async def make_admin(browser: Browser, state: AppState) -> None:
    await browser.sign_up()
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    await accounts.set_role(db=state.db, user_id=user.id, role="admin")


async def test_the_switch_without_the_csrf_token_is_refused_and_changes_nothing(browser, state):
    await make_admin(browser, state)
    response = await browser.http.post("/admin/storage", data={"enabled": "off"}, headers={"HX-Request": "true"})
    assert response.status_code == 403
    async with state.db.read() as session:
        assert await session.get(ServerSetting, "storage_enabled") is None


async def test_an_admin_turns_storage_off_and_the_page_says_who_did(browser, state):
    await make_admin(browser, state)
    assert "From the serve config" in (await browser.http.get("/admin/models")).text

    response = await browser.htmx_post("/admin/models", "/admin/storage", {"enabled": "off"})

    assert response.status_code == 200 and "storage is now off for the whole server" in response.text
    assert not await state.server_settings.storage_enabled()
    page = (await browser.http.get("/admin/models")).text
    assert f"Set by {browser.name}" in page and "Turn storage on" in page
    assert "turned off for the whole server" in (await browser.http.get("/settings")).text


async def test_a_switch_value_other_than_on_or_off_is_refused_naming_it(browser, state):
    await make_admin(browser, state)
    response = await browser.htmx_post("/admin/models", "/admin/storage", {"enabled": "maybe"})
    assert response.status_code == 400 and "enabled" in response.text
    assert await state.server_settings.storage_enabled()


@pytest.fixture
async def served(db, backend, tmp_path):  # noqa: F811
    """The app on `db` with the real tiny model in process, reached over ASGI."""
    config = parse_app_config(app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), database_url=db.url))
    state = AppState.build(config, model_handles={"tiny-sd": InProcessHandle(backend)})
    await state.startup()
    transport = httpx.ASGITransport(app=create_app(state), raise_app_exceptions=False, client=("127.0.0.1", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8000", timeout=60) as http:
        yield state, http
    await state.shutdown()


async def test_the_switch_decides_what_new_api_generations_return(served):
    state, http = served
    admin = Browser(http)
    await make_admin(admin, state)
    _, key = await user_with_key(state.db, config=state.config)
    opted_out_id, opted_out_key = await user_with_key(state.db, config=state.config)
    await users.set_storage_enabled(db=state.db, user_id=opted_out_id, enabled=False)

    async def image(api_key: str) -> str:
        response = await http.post(
            "/api/v1/generate", json={"prompt": "a fox", "seed": 3}, headers={"Authorization": f"Bearer {api_key}"}
        )
        assert response.status_code == 200, response.text
        return response.json()["data"]["image"]

    assert (await image(key)).startswith("http://127.0.0.1:8000/files/")
    await admin.htmx_post("/admin/models", "/admin/storage", {"enabled": "off"})
    assert (await image(key)).startswith("data:image/png;base64,")
    await admin.htmx_post("/admin/models", "/admin/storage", {"enabled": "on"})
    assert (await image(key)).startswith("http://127.0.0.1:8000/files/")
    # The user's own "off" wins over the server's "on".
    assert (await image(opted_out_key)).startswith("data:image/png;base64,")
