"""The console's security properties, in process: cookies, CSRF, escaping, ownership, admin
pages and the log-in limit, all through its own HTTP forms."""

import secrets

import pytest

from serve_app.db.models import PageUrl
from serve_app.services import accounts, projects, users
from tests.factories import image_row
from tests.serve_app.web.conftest import csrf_of

HOSTILE = '<script>alert("pwned")</script>'


async def test_the_session_cookie_is_httponly_and_samesite(browser):
    response = await browser.sign_up()
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("pixelray_session="))
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert "httponly" in attributes and "samesite=lax" in attributes
    # The test server's public URL is http: a Secure cookie would never come back.
    assert "secure" not in attributes


async def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(browser, state):
    await browser.sign_up()
    before = (await browser.http.get("/keys")).text.count("badge on")
    forged = await browser.http.post("/keys", data={}, headers={"Origin": "https://evil.example"})
    wrong = await browser.http.post("/keys", data={"csrf_token": "guessed"})
    assert forged.status_code == 403 and wrong.status_code == 403
    assert (await browser.http.get("/keys")).text.count("badge on") == before


async def test_the_log_in_form_without_its_token_is_refused(browser):
    await browser.sign_up()
    await browser.http.post("/logout", headers={"X-CSRF-Token": csrf_of((await browser.http.get("/")).text)})
    refused = await browser.http.post("/login", data={"name": browser.name, "password": browser.password})
    assert refused.status_code == 403 and "pixelray_session" not in refused.headers.get("set-cookie", "")


async def test_log_out_ends_the_session(browser):
    await browser.sign_up()
    token = csrf_of((await browser.http.get("/")).text)
    assert (await browser.http.post("/logout", headers={"X-CSRF-Token": token})).status_code == 303
    assert (await browser.http.get("/keys")).status_code == 303


async def test_log_in_returns_only_to_paths_on_this_server(browser):
    await browser.sign_up()
    browser.http.cookies.clear()
    response = await browser.form_post(
        "/login", "/login", {"name": browser.name, "password": browser.password, "next": "//evil.example/x"}
    )
    assert response.status_code == 303 and response.headers["location"] == "/"


async def test_the_sixth_bad_password_in_a_minute_is_refused(browser_factory):
    owner = browser_factory()
    await owner.sign_up()
    attacker = browser_factory("198.51.100.9")
    statuses = [(await attacker.log_in(owner.name, "not the password")).status_code for _ in range(5)]
    sixth = await attacker.log_in(owner.name, owner.password)
    assert statuses == [401] * 5
    assert sixth.status_code == 429 and "Retry-After" in sixth.headers
    assert "pixelray_session" not in sixth.headers.get("set-cookie", "")


async def test_a_script_prompt_and_a_markup_page_title_are_shown_as_text(browser, state):
    await browser.sign_up()
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    async with state.db.write() as session:
        session.add(image_row(user_id=user.id, request_id="req_x", prompt=HOSTILE, storage_key="x/hostile.png"))
        session.add(
            PageUrl(id="url_hostile", user_id=user.id, url="https://example.com/", title=f"<b>bold</b>{HOSTILE}")
        )
    for page in ("/gallery", "/hero", "/"):
        html = (await browser.http.get(page)).text
        assert HOSTILE not in html and "<b>bold</b>" not in html
    assert "&lt;script&gt;alert(&#34;pwned&#34;)&lt;/script&gt;" in (await browser.http.get("/gallery")).text
    assert "&lt;b&gt;bold&lt;/b&gt;" in (await browser.http.get("/hero")).text


async def test_one_user_cannot_read_or_delete_anothers_images_keys_or_projects(browser_factory, state):
    alice, bob = browser_factory(), browser_factory()
    await alice.sign_up()
    await bob.sign_up()
    owner = await users.find_user(db=state.db, name_or_id=alice.name)
    image_id = f"img_{secrets.token_hex(6)}"
    async with state.db.write() as session:
        session.add(
            image_row(
                user_id=owner.id, id=image_id, request_id="req_a", prompt="alice's private fox", storage_key="a/fox.png"
            )
        )
    project = await projects.create_project(db=state.db, slug=f"alice-{secrets.token_hex(3)}", user=owner)
    alice_key = (await users.list_keys(db=state.db, user_id=owner.id))[0].prefix

    assert "alice&#39;s private fox" not in (await bob.http.get("/gallery")).text
    assert (await bob.http.get(f"/playground?from={image_id}")).status_code == 404
    assert (await bob.htmx_post("/gallery", f"/gallery/{image_id}/delete")).status_code == 404
    assert (await bob.htmx_post("/keys", f"/keys/{alice_key}/revoke")).status_code == 404
    projects_page = (await bob.http.get("/projects")).text
    assert project.slug not in projects_page and project.secret not in projects_page
    for action in ("rotate", "settings", "url"):
        response = await bob.htmx_post("/projects", f"/projects/{project.slug}/{action}", {"prompt": "x"})
        assert response.status_code == 404, action

    assert "alice&#39;s private fox" in (await alice.http.get("/gallery")).text
    assert (await users.list_keys(db=state.db, user_id=owner.id))[0].revoked_at is None
    assert (await projects.find_project(db=state.db, slug=project.slug)).secret == project.secret


ADMIN_GETS = ["/admin", "/admin/models"]
ADMIN_POSTS = ["/admin/users/1/plan", "/admin/users/1/suspend", "/admin/users/1/credits", "/admin/storage"]


async def test_a_non_admin_gets_403_on_every_admin_page_and_action(browser, state):
    await browser.sign_up()
    for path in ADMIN_GETS:
        assert (await browser.http.get(path)).status_code == 403, path
    for path in ADMIN_POSTS:
        response = await browser.htmx_post("/", path, {"plan": "broke", "amount": "5"})
        assert response.status_code == 403, path
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    assert user.plan == "test" and user.balance == 1000 and not user.suspended
    assert await state.server_settings.storage_enabled()


async def test_an_admin_manages_users_from_the_console(browser_factory, state):
    admin, member = browser_factory(), browser_factory()
    await admin.sign_up()
    await member.sign_up()
    admin_user = await users.find_user(db=state.db, name_or_id=admin.name)
    await accounts.set_role(db=state.db, user_id=admin_user.id, role="admin")
    target = await users.find_user(db=state.db, name_or_id=member.name)

    assert member.name in (await admin.http.get(f"/admin?q={member.name}")).text
    assert (await admin.htmx_post("/admin", f"/admin/users/{target.id}/credits", {"amount": "7"})).status_code == 200
    assert (await admin.htmx_post("/admin", f"/admin/users/{target.id}/plan", {"plan": "daily"})).status_code == 200
    assert (
        await admin.htmx_post("/admin", f"/admin/users/{target.id}/suspend", {"suspended": "on"})
    ).status_code == 200
    changed = await users.find_user(db=state.db, name_or_id=member.name)
    assert (changed.balance, changed.plan, changed.suspended) == (1007, "daily", True)
    # A suspended user's session stops working at once.
    assert (await member.http.get("/keys")).status_code == 403


async def test_changing_the_password_logs_out_the_other_sessions(browser_factory):
    laptop, phone = browser_factory(), browser_factory()
    await laptop.sign_up()
    await phone.log_in(laptop.name, laptop.password)
    assert (await phone.http.get("/keys")).status_code == 200
    changed = await laptop.form_post(
        "/account", "/account/password", {"current_password": laptop.password, "new_password": "a new long secret"}
    )
    assert changed.status_code == 200
    assert (await phone.http.get("/keys")).status_code == 303
    assert (await laptop.http.get("/keys")).status_code == 200


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_the_api_docs_load_every_asset_from_the_application(browser, path):
    html = (await browser.http.get(path)).text
    assert "cdn." not in html and "https://" not in html
    assert "/static/vendor/" in html


async def test_the_session_cookie_is_secure_when_the_public_url_is_https(tmp_path):
    import httpx

    from serve_app.api.main import create_app
    from serve_app.api.state import AppState
    from serve_app.config import parse_app_config
    from tests.factories import app_args
    from tests.serve_app.web.conftest import Browser

    config = parse_app_config(
        app_args(tmp_dir=str(tmp_path), model_cache_dir=str(tmp_path), public_base_url="https://images.example.com")
    )
    state = AppState.build(config, model_handles={})
    await state.startup()
    try:
        transport = httpx.ASGITransport(app=create_app(state))
        async with httpx.AsyncClient(transport=transport, base_url="https://images.example.com") as http:
            response = await Browser(http).sign_up()
    finally:
        await state.shutdown()
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("pixelray_session="))
    assert "secure" in [part.strip().lower() for part in cookie.split(";")]
