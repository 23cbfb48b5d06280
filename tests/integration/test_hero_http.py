"""Page URL -> hero image through the running app: 202 at once, a stable URL, durable jobs."""

import asyncio
import io
import time

import pytest
import ray
from PIL import Image

from serve_app.services import credits
from serve_app.services.hero.styles import STYLES
from tests.factories import checked_balance, user_with_key

pytestmark = pytest.mark.serve


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
async def user(serve_app):
    return await user_with_key(serve_app.db)


async def submit(api, key: str, url: str, **fields):
    return await api.post("/api/v1/generate", json={"url": url, **fields}, headers=auth(key))


async def wait_for_job(api, key: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = (await api.get(f"/api/v1/jobs/{job_id}", headers=auth(key))).json()["data"]
        if job["status"] in ("completed", "failed"):
            return job
        await asyncio.sleep(0.2)
    raise AssertionError(f"job {job_id} still {job['status']} after {timeout} s")


async def ledger(serve_app, user_id: int) -> list[str]:
    await checked_balance(serve_app.db, user_id)
    return sorted(entry.kind for entry in await credits.history(db=serve_app.db, user_id=user_id))


async def test_202_then_404_then_302_to_a_decodable_image(serve_app, api, pages, user):
    user_id, key = user
    response = await submit(api, key, pages.url("/slow.html?delay=1.5"), style="photo", text_treatment="overlay")

    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "generating" and accepted["url_id"].startswith("url_")
    assert accepted["image_url"] == f"{serve_app.base_url}/img/{accepted['url_id']}/"

    pending = await api.get(accepted["image_url"])
    assert pending.status_code == 404 and pending.headers["cache-control"] == "no-store"

    job = await wait_for_job(api, key, accepted["job_id"])
    assert job["status"] == "completed", job
    assert job["progress"]["stage"] == "done" and job["style_used"] == "photo"
    redirect = await api.get(accepted["image_url"])
    assert redirect.status_code == 302
    image = Image.open(io.BytesIO((await api.get(redirect.headers["location"])).content))
    assert image.format == "PNG" and image.width > image.height
    assert await ledger(serve_app, user_id) == ["debit", "grant"]
    # Recorded like every generated image: in the gallery, at the size that was stored.
    (stored,) = (await api.get("/api/v1/images", headers=auth(key))).json()["data"]["images"]
    assert stored["url"] == redirect.headers["location"]
    assert (stored["width"], stored["height"]) == image.size


async def test_the_same_url_reuses_its_url_id_and_adds_images(serve_app, api, pages, user):
    _, key = user
    first = (await submit(api, key, pages.url("/og.html"))).json()
    second = (await submit(api, key, pages.url("/og.html#comments"), style="minimal")).json()
    assert first["url_id"] == second["url_id"]
    for accepted in (first, second):
        assert (await wait_for_job(api, key, accepted["job_id"]))["status"] == "completed"

    item = (await api.get(f"/api/v1/urls/{first['url_id']}/", headers=auth(key))).json()
    assert item["title"] == "Baking sourdough at home"
    assert len(item["images"]) == 2 and {i["status"] for i in item["images"]} == {"completed"}
    assert all(i["direct_url"].startswith(serve_app.base_url) for i in item["images"])


async def test_url_search_and_pagination(serve_app, api, pages):
    _, key = await user_with_key(serve_app.db)
    for path in ("/og.html", "/jsonld.html", "/bare.html"):
        accepted = (await submit(api, key, pages.url(path))).json()
        await wait_for_job(api, key, accepted["job_id"])

    everything = (await api.get("/api/v1/urls/", headers=auth(key))).json()
    assert (everything["total"], everything["limit"], everything["offset"]) == (3, 20, 0)
    by_title = (await api.get("/api/v1/urls/", params={"q": "KUBERNETES"}, headers=auth(key))).json()
    assert [u["title"] for u in by_title["urls"]] == ["Scaling Kubernetes clusters for AI inference"]
    by_url = (await api.get("/api/v1/urls/", params={"q": "bare.HTML"}, headers=auth(key))).json()
    assert by_url["total"] == 1
    page = (await api.get("/api/v1/urls/", params={"limit": 2, "offset": 2}, headers=auth(key))).json()
    assert len(page["urls"]) == 1 and page["total"] == 3
    assert (await api.get("/api/v1/urls/", params={"limit": 101}, headers=auth(key))).status_code == 400


async def test_another_users_url_and_job_are_404(serve_app, api, pages, user):
    _, key = user
    accepted = (await submit(api, key, pages.url("/bare.html"))).json()
    _, other = await user_with_key(serve_app.db)
    assert (await api.get(f"/api/v1/urls/{accepted['url_id']}/", headers=auth(other))).status_code == 404
    assert (await api.get(f"/api/v1/jobs/{accepted['job_id']}", headers=auth(other))).status_code == 404
    assert (await api.get("/img/url_does-not-exist/")).status_code == 404


async def test_every_style_completes(serve_app, api, pages, user):
    _, key = user
    accepted = await asyncio.gather(*(submit(api, key, pages.url("/jsonld.html"), style=s) for s in STYLES))
    jobs = await asyncio.gather(*(wait_for_job(api, key, a.json()["job_id"], timeout=120) for a in accepted))
    assert [j["status"] for j in jobs] == ["completed"] * len(STYLES)
    assert [j["style_used"] for j in jobs][1:] == list(STYLES[1:])
    assert jobs[0]["style_used"] in STYLES[1:]


@pytest.mark.parametrize(
    ("body", "field", "hint"),
    [
        ({"url": "ftp://example.com/post"}, "url", "http"),
        ({"url": "http://169.254.169.254/latest/meta-data/"}, "url", "non-public"),
        ({"url": "http://10.1.2.3/"}, "url", "non-public"),
        ({"url": "http://example.com/", "style": "vaporwave"}, "style", "dark_glass"),
        ({"url": "http://example.com/", "text_treatment": "banner"}, "text_treatment", "overlay"),
    ],
)
async def test_bad_submissions_are_400_and_free(serve_app, api, user, body, field, hint):
    user_id, key = user
    response = await api.post("/api/v1/generate", json=body, headers=auth(key))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["field"] == field and hint in error["message"]
    assert await ledger(serve_app, user_id) == ["grant"]


@pytest.mark.parametrize(
    ("path", "reason"),
    [("/huge.html", "larger"), ("/image.png", "content type"), ("/to-metadata", "non-public"), ("/missing", "404")],
)
async def test_pages_that_cannot_be_used_fail_the_job_and_refund(serve_app, api, pages, user, path, reason):
    user_id, key = user
    accepted = (await submit(api, key, pages.url(path))).json()
    job = await wait_for_job(api, key, accepted["job_id"])
    assert job["status"] == "failed" and reason in job["error"]
    assert job["attempt"] == 1, "a bad page is not retried"
    assert await ledger(serve_app, user_id) == ["debit", "grant", "refund"]


async def test_a_job_whose_worker_is_killed_mid_run_completes_after_the_lease_expires(serve_app, api, pages, user):
    user_id, key = user
    accepted = (await submit(api, key, pages.url("/slow.html?delay=3"))).json()
    deadline = time.monotonic() + 30
    while (await api.get(f"/api/v1/jobs/{accepted['job_id']}", headers=auth(key))).json()["data"]["progress"][
        "stage"
    ] != "scraping":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)

    [worker] = [a for a in ray.util.list_named_actors(all_namespaces=True) if "#jobs#" in a["name"]]
    ray.kill(ray.get_actor(worker["name"], namespace=worker["namespace"]), no_restart=True)

    job = await wait_for_job(api, key, accepted["job_id"], timeout=90)
    assert job["status"] == "completed" and job["attempt"] == 2
    assert await ledger(serve_app, user_id) == ["debit", "grant"]
    item = (await api.get(f"/api/v1/urls/{accepted['url_id']}/", headers=auth(key))).json()
    assert len(item["images"]) == 1, "the re-run replaced its own output"
