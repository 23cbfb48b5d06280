"""Credits, limits and usage through the running application (2 ingress replicas, shared DB)."""

import asyncio
from pathlib import Path

import pytest

from serve_app.services import credits
from serve_app.services.keys import LOOKUP_PREFIX_LENGTH
from serve_app.services.users import KEY_CACHE_TTL_S
from tests.factories import checked_balance, user_with_key

pytestmark = pytest.mark.serve


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_usage_and_balance_follow_a_generation(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    before = (await api.get("/api/v1/usage", headers=auth(key))).json()["data"]
    assert before["usage"]["today"] == {"requestCount": 0, "imageCount": 0}
    assert before["plan"]["slug"] == "test" and before["plan"]["remaining_today"] is None

    response = await api.post("/api/v1/generate", json={"prompt": "a fox"}, headers=auth(key))
    assert response.status_code == 200

    after = (await api.get("/api/v1/usage", headers=auth(key))).json()["data"]
    assert after["usage"]["today"] == {"requestCount": 1, "imageCount": 1}
    assert after["usage"]["this_month"] == {"requestCount": 1, "imageCount": 1}
    balance = (await api.get("/api/v1/balance", headers=auth(key))).json()
    assert balance["data"] == {"balance": 999, "currency": "credits"}
    assert await checked_balance(serve_app.db, user_id) == 999


async def test_usage_reports_what_a_daily_plan_has_left(serve_app, api):
    _, key = await user_with_key(serve_app.db, plan="daily")
    await api.post("/api/v1/generate", json={"prompt": "a fox"}, headers=auth(key))
    plan = (await api.get("/api/v1/usage", headers=auth(key))).json()["data"]["plan"]
    assert (plan["requests_per_day"], plan["remaining_today"], plan["remaining_month"]) == (5, 4, None)


async def test_account_endpoints_need_a_key(api):
    for path in ("/api/v1/usage", "/api/v1/balance"):
        assert (await api.get(path)).status_code == 401


async def test_a_model_failure_is_a_502_and_refunded(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    response = await api.post("/api/v1/generate", json={"prompt": "a fox", "model": "broken-sd"}, headers=auth(key))

    assert response.status_code == 502
    assert response.json()["error"]["code"] == "generation_failed"
    assert await checked_balance(serve_app.db, user_id) == 1000
    kinds = sorted(e.kind for e in await credits.history(db=serve_app.db, user_id=user_id))
    assert kinds == ["debit", "grant", "refund"]


async def test_a_storage_failure_is_a_503_and_refunded(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    files = Path(serve_app.args["storage"]["local_dir"])
    aside = files.with_name("files-aside")
    files.rename(aside)
    files.write_text("a file where the store's directory should be")
    try:
        response = await api.post("/api/v1/generate", json={"prompt": "a fox"}, headers=auth(key))
    finally:
        files.unlink()
        aside.rename(files)

    assert response.status_code == 503
    assert "storage" in response.json()["error"]["message"] and response.headers["retry-after"]
    assert await checked_balance(serve_app.db, user_id) == 1000


async def test_per_minute_limit_holds_across_two_ingress_replicas(serve_app, api):
    user_id, key = await user_with_key(serve_app.db, plan="per-minute")
    responses = await asyncio.gather(
        *(api.post("/api/v1/generate", json={"prompt": f"p{i}", "width": 64}, headers=auth(key)) for i in range(100))
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 60 and statuses.count(429) == 40, statuses
    for response in responses:
        assert response.headers["ratelimit-policy"] == "60;w=60"
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["error"]["retry_after"] >= 1
    assert await checked_balance(serve_app.db, user_id) == 940


async def test_rejected_requests_leave_the_balance_unchanged(serve_app, api):
    user_id, key = await user_with_key(serve_app.db, plan="daily")
    for _ in range(5):
        assert (await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(key))).status_code == 200
    before = await checked_balance(serve_app.db, user_id)

    rejected = [
        await api.post("/api/v1/generate", json={"prompt": "a", "width": 4000}, headers=auth(key)),
        await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(key + "x")),
        await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(key)),
    ]
    assert [r.status_code for r in rejected] == [400, 401, 429]
    assert rejected[2].json()["error"]["code"] == "quota_exceeded"
    assert await checked_balance(serve_app.db, user_id) == before

    broke_id, broke_key = await user_with_key(serve_app.db, plan="broke")
    response = await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(broke_key))
    assert response.status_code == 402
    assert (
        response.json()["error"]["message"]
        == "this request costs 1 credits and the balance is 0; add credits and retry"
    )
    assert await checked_balance(serve_app.db, broke_id) == 0


async def test_cli_grants_suspends_and_revokes_within_the_key_cache_ttl(serve_app, api):
    # The CLI is another process: each ingress replica sees its key and user changes once its
    # cached copy lapses, at most KEY_CACHE_TTL_S later. Credits move at once.
    out = serve_app.cli("users", "create", "--name", "cli-user", "--plan", "broke")
    key = out.strip().splitlines()[-1]
    assert (await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(key))).status_code == 402

    serve_app.cli("credits", "grant", "cli-user", "3")
    assert (await api.post("/api/v1/generate", json={"prompt": "a"}, headers=auth(key))).status_code == 200
    history = serve_app.cli("credits", "history", "cli-user")
    assert "grant" in history and "debit" in history and "balance 2" in history

    serve_app.cli("users", "suspend", "cli-user")
    await asyncio.sleep(KEY_CACHE_TTL_S)
    response = await api.get("/api/v1/balance", headers=auth(key))
    assert response.status_code == 403 and "suspended" in response.json()["error"]["message"]
    serve_app.cli("users", "suspend", "cli-user", "--undo")
    await asyncio.sleep(KEY_CACHE_TTL_S)

    second = serve_app.cli("keys", "create", "cli-user").strip().splitlines()[-1]
    serve_app.cli("keys", "revoke", key[:LOOKUP_PREFIX_LENGTH])
    await asyncio.sleep(KEY_CACHE_TTL_S)
    assert (await api.get("/api/v1/balance", headers=auth(key))).status_code == 401
    assert (await api.get("/api/v1/balance", headers=auth(second))).status_code == 200
    listing = serve_app.cli("keys", "list", "cli-user")
    assert key[:LOOKUP_PREFIX_LENGTH] in listing and key not in listing


async def test_the_database_file_holds_no_plaintext_key(serve_app):
    _, key = await user_with_key(serve_app.db)
    database = Path(serve_app.args["database_url"].removeprefix("sqlite:///"))
    for path in database.parent.glob(database.name + "*"):
        assert key[LOOKUP_PREFIX_LENGTH:].encode() not in path.read_bytes()
