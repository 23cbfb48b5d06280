"""Console actions that need no model, in process: project settings and secrets, the signed URL
builder, the storage preference, and key revocation."""

from urllib.parse import parse_qsl, urlsplit

import pytest

from serve_app.services import projects, signing, users
from tests.factories import image_row


async def create_project(browser, slug: str, **fields) -> None:
    response = await browser.form_post("/projects", "/projects", {"slug": slug, **fields})
    assert response.status_code == 200 and slug in response.text


async def test_a_project_is_created_configured_and_its_secret_rotated(browser, state):
    await browser.sign_up()
    await create_project(browser, "shop", origins="https://shop.example")
    before = await projects.find_project(db=state.db, slug="shop")
    assert before.origins == ["https://shop.example"] and not before.require_signature

    saved = await browser.htmx_post(
        "/projects",
        "/projects/shop/settings",
        {"origins": "https://a.example http://b.example:8080", "require_signature": "on"},
    )
    rotated = await browser.htmx_post("/projects", "/projects/shop/rotate")

    after = await projects.find_project(db=state.db, slug="shop")
    assert saved.status_code == 200 and after.origins == ["https://a.example", "http://b.example:8080"]
    assert after.require_signature
    assert rotated.status_code == 200 and after.secret != before.secret and after.secret in rotated.text


async def test_a_bad_origin_is_refused_naming_the_field(browser):
    await browser.sign_up()
    await create_project(browser, "blog")
    response = await browser.htmx_post("/projects", "/projects/blog/settings", {"origins": "not-an-origin"})
    assert response.status_code == 400 and "origin" in response.text
    assert response.headers["HX-Retarget"] == "#flash"


async def test_the_url_builder_signs_with_the_projects_secret(browser, state):
    await browser.sign_up()
    await create_project(browser, "docs-site", require_signature="on")
    response = await browser.htmx_post(
        "/projects", "/projects/docs-site/url", {"prompt": "a quiet harbor", "aspect_ratio": "16:9", "seed": "3"}
    )
    url = next(
        part for part in response.text.split('"') if part.startswith("http://") and "/p/docs-site/image?" in part
    )
    query = urlsplit(url.replace("&amp;", "&")).query
    secret = (await projects.find_project(db=state.db, slug="docs-site")).secret
    signing.verify(secret, query, now=0)
    assert dict(parse_qsl(query))["prompt"] == "a quiet harbor"


async def test_the_url_builder_works_without_scripts_as_a_plain_form(browser):
    await browser.sign_up()
    await create_project(browser, "plain-site")
    response = await browser.form_post("/projects", "/projects/plain-site/url", {"prompt": "a plain harbor"})
    assert response.status_code == 200 and "<h1>Projects</h1>" in response.text
    built = response.text.split('id="built-url-plain-site"')[1].split('value="')[1].split('"')[0]
    assert built.startswith("http://") and "/p/plain-site/image?prompt=a+plain+harbor" in built


async def test_the_url_builder_refuses_a_bad_parameter(browser):
    await browser.sign_up()
    await create_project(browser, "gallery-site")
    response = await browser.htmx_post(
        "/projects", "/projects/gallery-site/url", {"prompt": "x", "aspect_ratio": "2:1"}
    )
    assert response.status_code == 400 and "aspect_ratio" in response.text


async def test_the_storage_preference_is_saved(browser, state):
    await browser.sign_up()
    response = await browser.form_post("/settings", "/settings", {})
    assert response.status_code == 200 and "Saved." in response.text
    assert not (await users.find_user(db=state.db, name_or_id=browser.name)).storage_enabled
    await browser.form_post("/settings", "/settings", {"storage_enabled": "on"})
    assert (await users.find_user(db=state.db, name_or_id=browser.name)).storage_enabled


async def test_a_revoked_key_is_listed_as_revoked_and_stops_working(browser, state):
    await browser.sign_up()
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    key = (await users.list_keys(db=state.db, user_id=user.id))[0]
    response = await browser.htmx_post("/keys", f"/keys/{key.prefix}/revoke")
    assert response.status_code == 200 and "revoked" in response.text
    assert (await users.list_keys(db=state.db, user_id=user.id))[0].revoked_at is not None


async def test_deleting_an_image_removes_its_file_and_its_gallery_tile(browser, state):
    import secrets

    from serve_app.storage.base import ObjectNotFound

    await browser.sign_up()
    user = await users.find_user(db=state.db, name_or_id=browser.name)
    image_id, key = f"img_{secrets.token_hex(6)}", f"images/test/{secrets.token_hex(6)}.png"
    await state.store.put(key, b"\x89PNG\r\n\x1a\n", content_type="image/png")
    async with state.db.write() as session:
        session.add(
            image_row(
                user_id=user.id,
                id=image_id,
                request_id="req_d",
                prompt="a fox to delete",
                size_bytes=8,
                storage_key=key,
            )
        )
    assert "a fox to delete" in (await browser.http.get("/gallery")).text

    response = await browser.htmx_post("/gallery", f"/gallery/{image_id}/delete")

    assert response.status_code == 200 and response.text == ""
    assert "a fox to delete" not in (await browser.http.get("/gallery")).text
    with pytest.raises(ObjectNotFound):
        await state.store.get(key)
