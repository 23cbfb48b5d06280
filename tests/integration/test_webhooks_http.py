"""Job cancel and webhooks through the running app: a cancel refunds once and stops the worker;
job and batch events reach a loopback receiver (allow-listed in the test config) signed the
Standard Webhooks way, after retries when it fails; bad webhook URLs are a 400 naming the field."""

import asyncio
import time

import pytest
from standardwebhooks import Webhook

from serve_app.services import credits
from tests.factories import user_with_key
from tests.integration.test_hero_http import auth, ledger, submit, wait_for_job
from tests.support.webhooks import WebhookReceiver

pytestmark = pytest.mark.serve


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as server:
        yield server


@pytest.fixture
async def user(serve_app):
    return await user_with_key(serve_app.db)


async def secret_of(api, key: str) -> str:
    response = await api.post("/api/v1/webhooks/secret", headers=auth(key))
    assert response.status_code == 201, response.text
    return response.json()["data"]["secret"]


async def deliveries(api, key: str, job_id: str) -> list[dict]:
    response = await api.get("/api/v1/webhooks/deliveries", params={"job_id": job_id}, headers=auth(key))
    assert response.status_code == 200, response.text
    return response.json()["data"]["deliveries"]


async def wait_for_delivery(api, key: str, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await deliveries(api, key, job_id)
        if found and found[0]["status"] != "pending":
            return found[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"the webhook of {job_id} is still pending after {timeout} s: {found}")


async def test_a_completed_job_posts_a_signed_job_completed_event(serve_app, api, pages, receiver, user):
    _, key = user
    secret = await secret_of(api, key)
    accepted = (await submit(api, key, pages.url("/og.html"), webhook_url=receiver.url("/done"))).json()
    assert (await wait_for_job(api, key, accepted["job_id"]))["status"] == "completed"

    delivery = await wait_for_delivery(api, key, accepted["job_id"])
    assert (delivery["status"], delivery["event"], delivery["attempts"]) == ("delivered", "job.completed", 1)
    [received] = receiver.at("/done")
    event = Webhook(secret).verify(received.body, received.headers)
    assert event["type"] == "job.completed" and event["data"]["job_id"] == accepted["job_id"]
    assert event["data"]["image_url"].startswith(serve_app.base_url)
    assert received.headers["webhook-id"] == delivery["id"]


async def test_a_failing_receiver_gets_retries_with_the_same_id_then_success(serve_app, api, pages, receiver, user):
    _, key = user
    secret = await secret_of(api, key)
    receiver.fail_first["/flaky"] = 2
    accepted = (await submit(api, key, pages.url("/no-such-page"), webhook_url=receiver.url("/flaky"))).json()
    assert (await wait_for_job(api, key, accepted["job_id"]))["status"] == "failed"

    delivery = await wait_for_delivery(api, key, accepted["job_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 204)
    posts = receiver.at("/flaky")
    assert [p.answered for p in posts] == [500, 500, 204]
    assert len({p.headers["webhook-id"] for p in posts}) == 1, "every try carries the same webhook-id"
    assert Webhook(secret).verify(posts[-1].body, posts[-1].headers)["type"] == "job.failed"


async def test_a_batch_posts_one_event_for_all_its_items(serve_app, api, receiver, user):
    _, key = user
    secret = await secret_of(api, key)
    body = {
        "items": [{"prompt": "a lighthouse"}, {"prompt": "a fox", "width": 12}],
        "webhook_url": receiver.url("/batch"),
    }
    response = await api.post("/api/v1/generate", json=body, headers=auth(key))
    assert response.status_code == 200, response.text
    request_id = response.json()["request_id"]

    delivery = await wait_for_delivery(api, key, request_id)
    assert (delivery["status"], delivery["event"]) == ("delivered", "job.failed"), "one item failed"
    [received] = receiver.at("/batch")
    event = Webhook(secret).verify(received.body, received.headers)
    assert [r["success"] for r in event["data"]["results"]] == [True, False]


@pytest.mark.parametrize(
    ("webhook_url", "fragment"),
    [
        ("ftp://127.0.0.1/x", "http"),
        ("http://10.0.0.5/hook", "non-public"),
        ("http://169.254.169.254/latest", "non-public"),
    ],
)
async def test_a_webhook_url_that_cannot_be_reached_is_a_400_and_charges_nothing(
    serve_app, api, pages, user, webhook_url, fragment
):
    user_id, key = user
    await secret_of(api, key)
    before = await credits.balance(db=serve_app.db, user_id=user_id)
    for body in (
        {"url": pages.url("/og.html"), "webhook_url": webhook_url},
        {"items": [{"prompt": "a fox"}], "webhook_url": webhook_url},
    ):
        response = await api.post("/api/v1/generate", json=body, headers=auth(key))
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert "webhook_url" in (error.get("field") or error["message"]) and fragment in error["message"]
    assert await credits.balance(db=serve_app.db, user_id=user_id) == before


async def test_a_webhook_url_needs_a_signing_secret_first(serve_app, api, pages, receiver, user):
    _, key = user
    response = await submit(api, key, pages.url("/og.html"), webhook_url=receiver.url("/x"))
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "webhook_url"
    assert "/api/v1/webhooks/secret" in response.json()["error"]["message"]


async def test_rotating_the_secret_signs_later_events_with_the_new_one(serve_app, api, pages, receiver, user):
    _, key = user
    old = await secret_of(api, key)
    new = await secret_of(api, key)
    assert old != new and new.startswith("whsec_")
    accepted = (await submit(api, key, pages.url("/bare.html"), webhook_url=receiver.url("/rotated"))).json()
    await wait_for_delivery(api, key, accepted["job_id"])
    [received] = receiver.at("/rotated")
    Webhook(new).verify(received.body, received.headers)


async def test_cancelling_a_running_job_refunds_it_once_and_stops_its_worker(serve_app, api, pages, receiver, user):
    user_id, key = user
    await secret_of(api, key)
    accepted = (await submit(api, key, pages.url("/slow.html?delay=4"), webhook_url=receiver.url("/cancelled"))).json()
    job_id = accepted["job_id"]
    deadline = time.monotonic() + 30
    while (await api.get(f"/api/v1/jobs/{job_id}", headers=auth(key))).json()["data"]["status"] != "generating":
        assert time.monotonic() < deadline, "the job never started"
        await asyncio.sleep(0.1)

    cancelled = await api.delete(f"/api/v1/jobs/{job_id}", headers=auth(key))
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["data"]["status"] == "cancelled"
    again = await api.delete(f"/api/v1/jobs/{job_id}", headers=auth(key))
    assert again.status_code == 200 and again.json()["data"]["status"] == "cancelled"

    await asyncio.sleep(6)  # past the slow page: a worker that kept going would have completed by now
    job = (await api.get(f"/api/v1/jobs/{job_id}", headers=auth(key))).json()["data"]
    assert (job["status"], job["image_url"]) == ("cancelled", None)
    assert await ledger(serve_app, user_id) == ["debit", "grant", "refund"]
    assert await credits.balance(db=serve_app.db, user_id=user_id) == 1000
    assert receiver.at("/cancelled") == [] and await deliveries(api, key, job_id) == []


async def test_cancelling_a_finished_job_is_a_409_and_refunds_nothing(serve_app, api, pages, user):
    user_id, key = user
    accepted = (await submit(api, key, pages.url("/og.html"))).json()
    assert (await wait_for_job(api, key, accepted["job_id"]))["status"] == "completed"
    response = await api.delete(f"/api/v1/jobs/{accepted['job_id']}", headers=auth(key))
    assert response.status_code == 409 and response.json()["error"]["code"] == "job_already_ended"
    assert await ledger(serve_app, user_id) == ["debit", "grant"]
    other = await user_with_key(serve_app.db)
    assert (await api.delete(f"/api/v1/jobs/{accepted['job_id']}", headers=auth(other[1]))).status_code == 404
