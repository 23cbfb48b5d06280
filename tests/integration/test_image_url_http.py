"""GET /p/{project}/image on the real Serve application (2 ingress replicas), over HTTP."""

import asyncio
import io
import time
from urllib.parse import quote

import pytest
from PIL import Image
from sqlmodel import func, select

from serve_app.db.models import Image as ImageRow
from serve_app.services.signing import signed_query
from tests.factories import checked_balance, project_with_owner

pytestmark = pytest.mark.serve

IMMUTABLE = "public, max-age=31536000, immutable"


def decoded(content: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(content))
    image.load()
    return image


async def generations_of(serve_app, user_id: int) -> int:
    """Images the models produced for this user: every generation writes exactly one row."""
    async with serve_app.db.read() as session:
        return (await session.exec(select(func.count()).select_from(ImageRow).where(ImageRow.user_id == user_id))).one()


def url(project, query: str) -> str:
    return f"/p/{project.slug}/image?{query}"


def assert_placeholder(response, *, status: int, code: str) -> None:
    assert response.status_code == status, (response.headers.get("x-error-message"), response.status_code)
    assert response.headers["x-error-code"] == code
    assert response.headers["x-error-message"]
    assert response.headers["x-request-id"]
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["content-type"] == "image/png"
    image = decoded(response.content)
    assert image.format == "PNG" and image.width > 0 and image.height > 0


async def test_a_prompt_url_answers_a_webp_with_the_success_headers(serve_app, api):
    project = await project_with_owner(serve_app.db)
    response = await api.get(url(project, "prompt=A%20sunset%20over%20mountains&seed=5"))

    assert response.status_code == 200, response.headers.get("x-error-message")
    assert response.headers["content-type"] == "image/webp"
    assert decoded(response.content).format == "WEBP"
    assert response.headers["x-cache"] == "MISS"
    assert response.headers["x-credits"] == "1"
    assert response.headers["x-model"] == "tiny-sd"
    assert int(response.headers["x-generation-time-ms"]) >= 0
    assert response.headers["x-request-id"]
    assert response.headers["cache-control"] == IMMUTABLE
    etag = response.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")

    again = await api.get(url(project, "prompt=A%20sunset%20over%20mountains&seed=5"), headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == etag


@pytest.mark.parametrize(("fmt", "content_type", "pil"), [("png", "image/png", "PNG"), ("jpeg", "image/jpeg", "JPEG")])
async def test_format_picks_the_encoding(serve_app, api, fmt, content_type, pil):
    project = await project_with_owner(serve_app.db)
    response = await api.get(url(project, f"prompt=a%20fox&format={fmt}"))
    assert response.headers["content-type"] == content_type
    assert decoded(response.content).format == pil


async def test_aspect_ratio_is_scaled_into_the_models_sizes(serve_app, api):
    project = await project_with_owner(serve_app.db)
    wide = decoded((await api.get(url(project, "prompt=a%20fox&aspect_ratio=16:9&format=png"))).content)
    tall = decoded((await api.get(url(project, "prompt=a%20fox&aspect_ratio=9:16&format=png"))).content)
    # The tiny test model: 64×64 base, sizes 64–256.
    assert wide.size == (112, 64) and tall.size == (64, 112)


async def test_a_cache_hit_costs_nothing_and_runs_no_model(serve_app, api):
    project = await project_with_owner(serve_app.db)
    first = await api.get(url(project, "prompt=a%20red%20kite"))
    balance = await checked_balance(serve_app.db, project.user_id)
    # Whitespace is the only normalization: these are the same prompt.
    second = await api.get(url(project, "prompt=%20a%20%20red%20kite%20"))

    assert (first.headers["x-cache"], second.headers["x-cache"]) == ("MISS", "HIT")
    assert second.headers["x-credits"] == "0"
    assert second.content == first.content and second.headers["etag"] == first.headers["etag"]
    assert second.headers["cache-control"] == IMMUTABLE
    assert await generations_of(serve_app, project.user_id) == 1
    assert await checked_balance(serve_app.db, project.user_id) == balance


async def test_cache_false_forces_a_new_generation(serve_app, api):
    project = await project_with_owner(serve_app.db)
    first = await api.get(url(project, "prompt=a%20boat"))
    fresh = await api.get(url(project, "prompt=a%20boat&cache=false"))

    assert fresh.headers["x-cache"] == "MISS" and fresh.headers["x-credits"] == "1"
    assert fresh.content != first.content
    assert fresh.headers["cache-control"] == "no-cache"
    assert await generations_of(serve_app, project.user_id) == 2


async def test_ten_identical_concurrent_requests_run_one_generation(serve_app, api):
    project = await project_with_owner(serve_app.db)
    before = await checked_balance(serve_app.db, project.user_id)
    responses = await asyncio.gather(*(api.get(url(project, "prompt=ten%20at%20once")) for _ in range(10)))

    assert [r.status_code for r in responses] == [200] * 10
    assert len({r.content for r in responses}) == 1
    assert sorted(r.headers["x-cache"] for r in responses) == ["HIT"] * 9 + ["MISS"]
    assert sum(int(r.headers["x-credits"]) for r in responses) == 1
    assert await generations_of(serve_app, project.user_id) == 1
    assert await checked_balance(serve_app.db, project.user_id) == before - 1


async def test_a_route_falls_back_past_a_failing_model_and_says_which_served(serve_app, api):
    project = await project_with_owner(serve_app.db)
    response = await api.get(url(project, "prompt=a%20fox&route=test/fallback&format=png"))

    assert response.status_code == 200, response.headers.get("x-error-message")
    assert response.headers["x-model"] == "tiny-sd"
    assert decoded(response.content).format == "PNG"


async def test_when_every_model_fails_nothing_is_charged(serve_app, api):
    project = await project_with_owner(serve_app.db)
    before = await checked_balance(serve_app.db, project.user_id)
    response = await api.get(url(project, "prompt=a%20fox&route=test/all-broken"))

    assert_placeholder(response, status=502, code="GENERATION_FAILED")
    assert "broken-sd" in response.headers["x-error-message"]
    assert await checked_balance(serve_app.db, project.user_id) == before
    # The failure is not cached: the next identical request tries again (and fails again).
    assert (await api.get(url(project, "prompt=a%20fox&route=test/all-broken"))).status_code == 502


async def test_routes_are_listed(api):
    body = (await api.get("/api/v1/routes")).json()
    routes = {route["name"]: route["models"] for route in body["data"]["routes"]}
    assert routes["test/fallback"] == ["broken-sd", "tiny-sd"]


async def test_the_project_can_come_from_the_host(serve_app, api):
    project = await project_with_owner(serve_app.db)
    response = await api.get("/image?prompt=a%20fox", headers={"Host": f"{project.slug}.img.test"})
    assert response.status_code == 200 and response.headers["x-model"] == "tiny-sd"
    unknown = await api.get("/image?prompt=a%20fox", headers={"Host": "img.test"})
    assert_placeholder(unknown, status=404, code="PROJECT_NOT_FOUND")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    [
        ("seed=1", 400, "VALIDATION_ERROR"),
        ("prompt=a&aspect_ratio=2:1", 400, "VALIDATION_ERROR"),
        ("prompt=a&colour=red", 400, "VALIDATION_ERROR"),
        ("prompt=a&route=nope/none", 400, "UNKNOWN_ROUTE"),
        ("prompt=a&model=sdxl", 400, "UNKNOWN_MODEL"),
    ],
)
async def test_bad_parameters_render_a_placeholder(serve_app, api, query, status, code):
    project = await project_with_owner(serve_app.db)
    assert_placeholder(await api.get(url(project, query)), status=status, code=code)
    assert await checked_balance(serve_app.db, project.user_id) == 1000


async def test_an_unknown_project_renders_a_placeholder(api):
    assert_placeholder(await api.get("/p/no-such-project/image?prompt=a"), status=404, code="PROJECT_NOT_FOUND")


async def test_an_owner_without_credits_gets_credits_exhausted(serve_app, api):
    project = await project_with_owner(serve_app.db, plan="broke")
    assert_placeholder(await api.get(url(project, "prompt=a")), status=402, code="CREDITS_EXHAUSTED")


async def test_an_owner_over_a_plan_limit_gets_limit(serve_app, api):
    project = await project_with_owner(serve_app.db, plan="daily")
    for i in range(5):
        assert (await api.get(url(project, f"prompt=request%20{i}"))).status_code == 200
    response = await api.get(url(project, "prompt=one%20too%20many"))
    assert_placeholder(response, status=429, code="LIMIT")
    assert int(response.headers["retry-after"]) > 0


async def test_signed_urls(serve_app, api):
    project = await project_with_owner(serve_app.db, require_signature=True)
    signed = signed_query(project.secret, "prompt=a signed fox&seed=3")

    valid = await api.get(url(project, signed))
    assert valid.status_code == 200, valid.headers.get("x-error-message")
    # `sig` is found by name wherever it sits in the query.
    sig = signed.rsplit("&", 1)[1]
    reordered = await api.get(url(project, f"{sig}&seed=3&prompt={quote('a signed fox')}"))
    assert reordered.status_code == 200 and reordered.headers["x-cache"] == "HIT"

    tampered = await api.get(url(project, signed.replace("fox", "cat")))
    assert_placeholder(tampered, status=403, code="SIGNATURE_INVALID")
    missing = await api.get(url(project, "prompt=a%20signed%20fox&seed=3"))
    assert_placeholder(missing, status=403, code="SIGNATURE_INVALID")
    expired = await api.get(url(project, signed_query(project.secret, "prompt=a fox", expires_at=int(time.time()) - 5)))
    assert_placeholder(expired, status=403, code="SIGNATURE_INVALID")
    assert "expired" in expired.headers["x-error-message"]
    live = await api.get(url(project, signed_query(project.secret, "prompt=a fox", expires_at=int(time.time()) + 60)))
    assert live.status_code == 200


async def test_referrer_restriction(serve_app, api):
    project = await project_with_owner(serve_app.db, origins=("https://good.example",))

    allowed = await api.get(url(project, "prompt=a%20fox"), headers={"Referer": "https://good.example/blog/post"})
    assert allowed.status_code == 200
    other = await api.get(url(project, "prompt=a%20fox"), headers={"Referer": "https://evil.example/"})
    assert_placeholder(other, status=403, code="REFERRER_NOT_ALLOWED")
    none = await api.get(url(project, "prompt=a%20fox"))
    assert_placeholder(none, status=403, code="REFERRER_NOT_ALLOWED")
