"""Request ids and idempotency keys through the running app (2 ingress replicas, shared DB): a
client's X-Request-Id only correlates, and an Idempotency-Key makes a retry replay, once charged."""

import asyncio

import pytest

from serve_app.services import credits
from tests.factories import checked_balance, project_with_owner, user_with_key

pytestmark = pytest.mark.serve

SMALL = {"prompt": "a lighthouse", "width": 64, "height": 64, "num_inference_steps": 2}


def auth(key: str, **headers: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", **headers}


async def test_a_reused_x_request_id_only_correlates_across_users_and_endpoints(serve_app, api):
    reused = {"X-Request-Id": "my-own-id-42"}
    users = [await user_with_key(serve_app.db) for _ in range(2)]
    responses = []
    for _, key in users:
        for _ in range(2):
            responses.append(await api.post("/api/v1/generate", json=SMALL, headers=auth(key, **reused)))
        responses.append(
            await api.post(
                "/v1/images/generations", json={"prompt": "an owl", "size": "64x64"}, headers=auth(key, **reused)
            )
        )
    for _ in range(2):
        project = await project_with_owner(serve_app.db)
        responses.append(await api.get(f"/p/{project.slug}/image?prompt=a%20fox&cache=false", headers=reused))

    assert [r.status_code for r in responses] == [200] * 8, [r.text[:200] for r in responses]
    assert {r.headers["x-request-id"] for r in responses} == {"my-own-id-42"}
    assert responses[0].json()["request_id"] == "my-own-id-42"
    for user_id, _ in users:
        assert await checked_balance(serve_app.db, user_id) == 1000 - 3


async def test_a_retry_with_the_same_key_replays_the_first_response_and_is_charged_once(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "retry-1"})
    first = await api.post("/api/v1/generate", json=SMALL, headers=headers)
    retry = await api.post("/api/v1/generate/", json={**SMALL}, headers=headers)

    assert first.status_code == retry.status_code == 200
    assert retry.content == first.content
    assert retry.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
    assert await checked_balance(serve_app.db, user_id) == 999


async def test_the_same_key_with_another_body_is_a_422_and_charges_nothing(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "retry-2"})
    assert (await api.post("/api/v1/generate", json=SMALL, headers=headers)).status_code == 200
    other = await api.post("/api/v1/generate", json={**SMALL, "prompt": "a harbour"}, headers=headers)

    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await checked_balance(serve_app.db, user_id) == 999


async def test_concurrent_duplicates_run_once_and_the_others_get_409_or_the_replay(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "burst-1"})
    body = {**SMALL, "count": 2}
    responses = await asyncio.gather(*(api.post("/api/v1/generate", json=body, headers=headers) for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)

    assert set(statuses) <= {200, 409} and 200 in statuses, statuses
    assert len({r.content for r in responses if r.status_code == 200}) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["error"]["code"] == "idempotency_key_in_use" and conflict.headers["retry-after"]
    later = await api.post("/api/v1/generate", json=body, headers=headers)
    assert later.status_code == 200 and later.headers["idempotent-replayed"] == "true"
    assert await checked_balance(serve_app.db, user_id) == 1000 - 2


async def test_a_batch_replays_with_every_item_charged_once(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "batch-1"})
    body = {"items": [SMALL, {**SMALL, "prompt": "a kite"}, {**SMALL, "width": 12}]}
    first = await api.post("/api/v1/generate", json=body, headers=headers)
    retry = await api.post("/api/v1/generate", json=body, headers=headers)

    assert first.status_code == 200 and retry.content == first.content
    assert [item["success"] for item in first.json()["data"]["results"]] == [True, True, False]
    assert await checked_balance(serve_app.db, user_id) == 998


async def test_a_hero_submission_replays_its_job(serve_app, api, pages):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "hero-1"})
    body = {"url": pages.url("/og.html")}
    first = await api.post("/api/v1/generate", json=body, headers=headers)
    retry = await api.post("/api/v1/generate", json=body, headers=headers)

    assert first.status_code == retry.status_code == 202
    assert retry.json()["job_id"] == first.json()["job_id"]
    debits = [e for e in await credits.history(db=serve_app.db, user_id=user_id) if e.kind == "debit"]
    assert len(debits) == 1


async def test_the_openai_endpoint_replays_and_refuses_another_body_in_its_own_shape(serve_app, api):
    user_id, key = await user_with_key(serve_app.db)
    headers = auth(key, **{"Idempotency-Key": "openai-1"})
    body = {"prompt": "an owl", "size": "64x64", "response_format": "b64_json"}
    first = await api.post("/v1/images/generations", json=body, headers=headers)
    retry = await api.post("/v1/images/generations", json=body, headers=headers)
    other = await api.post("/v1/images/generations", json={**body, "n": 2}, headers=headers)

    assert first.status_code == retry.status_code == 200 and retry.content == first.content
    assert other.status_code == 422
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert await checked_balance(serve_app.db, user_id) == 999


async def test_an_overlong_key_is_a_400_naming_the_header(serve_app, api):
    _, key = await user_with_key(serve_app.db)
    response = await api.post("/api/v1/generate", json=SMALL, headers=auth(key, **{"Idempotency-Key": "k" * 256}))
    assert response.status_code == 400
    assert "idempotency-key" in response.json()["error"]["message"].lower()
