"""pixelray's custom metrics reach Ray's Prometheus endpoint after real traffic."""

import asyncio
import secrets
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.factories import user_with_key

pytestmark = pytest.mark.serve


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """(sample name, its labels) -> value, for every pixelray sample on the page."""
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if "pixelray_" in sample.name:
                found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def total(found: dict, name: str, **labels: str) -> float:
    wanted = set(labels.items())
    return sum(value for (sample, tags), value in found.items() if sample == name and wanted <= tags)


async def scrape(port: int) -> dict:
    async with httpx.AsyncClient(timeout=10) as client:
        return samples((await client.get(f"http://127.0.0.1:{port}/metrics")).text)


async def test_generation_credit_cache_and_scraper_metrics_are_exported_after_traffic(
    serve_app, api, pages, ray_cluster
):
    before = await scrape(ray_cluster)
    name = f"metrics-{secrets.token_hex(4)}"
    _, key = await user_with_key(serve_app.db, name)
    serve_app.cli("projects", "create", name, "--user", name)
    headers = {"Authorization": f"Bearer {key}"}
    ok = await asyncio.gather(
        *(api.post("/api/v1/generate", json={"prompt": f"fox {i}"}, headers=headers) for i in range(3))
    )
    failed = await api.post("/api/v1/generate", json={"prompt": "fox", "model": "broken-sd"}, headers=headers)
    hero = await api.post("/api/v1/generate", json={"url": pages.url("/og.html")}, headers=headers)
    assert [r.status_code for r in ok] == [200, 200, 200] and failed.status_code == 502
    assert hero.status_code == 202, hero.text
    image_url = f"/p/{name}/image?prompt=a+metric+fox&seed=3"
    assert [(await api.get(image_url)).headers["x-cache"] for _ in range(2)] == ["MISS", "HIT"]

    expected = {
        ("ray_pixelray_images_generated_total", "tiny-sd"): 3,
        ("ray_pixelray_images_failed_total", "broken-sd"): 1,
        ("ray_pixelray_batch_size_count", "tiny-sd"): 1,
        ("ray_pixelray_generation_seconds_count", "tiny-sd"): 1,
        ("ray_pixelray_queue_wait_seconds_count", "tiny-sd"): 3,
        ("ray_pixelray_credits_debited_total", "tiny-sd"): 3,
        ("ray_pixelray_credits_debited_total", "broken-sd"): 1,
        ("ray_pixelray_credits_refunded_total", "broken-sd"): 1,
    }
    scraped_before = total(before, "ray_pixelray_scraper_fetches_total", kind="page", outcome="ok")
    lookups_before = {r: total(before, "ray_pixelray_image_cache_lookups_total", result=r) for r in ("hit", "miss")}
    # Ray's agent exports every few seconds; poll until every counter moved by what we sent.
    deadline = time.monotonic() + 60
    while True:
        after = await scrape(ray_cluster)
        missing = {
            (name, model): need
            for (name, model), need in expected.items()
            if total(after, name, model=model) - total(before, name, model=model) < need
        }
        if total(after, "ray_pixelray_scraper_fetches_total", kind="page", outcome="ok") <= scraped_before:
            missing[("ray_pixelray_scraper_fetches_total", "page ok")] = 1
        for result, count in lookups_before.items():
            if total(after, "ray_pixelray_image_cache_lookups_total", result=result) <= count:
                missing[("ray_pixelray_image_cache_lookups_total", result)] = 1
        if not missing:
            break
        assert time.monotonic() < deadline, f"metrics not exported within 60 s: {sorted(missing)}"
        await asyncio.sleep(1)
    assert total(after, "ray_pixelray_batch_size_sum", model="tiny-sd") > total(
        before, "ray_pixelray_batch_size_sum", model="tiny-sd"
    )
