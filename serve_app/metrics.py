"""Prometheus metrics of the ingress, exported through Ray's metrics agent (names gain Ray's
`ray_` prefix). Serve adds the deployment, replica and application tags."""

from functools import cache

from ray.serve.metrics import Counter


@cache
def _counters() -> dict[str, Counter]:
    # Created on first use, inside the replica, so Serve's replica tags are attached.
    return {
        "debited": Counter(
            "pixelray_credits_debited",
            description="Credits taken from balances before generation, per model.",
            tag_keys=("model",),
        ),
        "refunded": Counter(
            "pixelray_credits_refunded",
            description="Credits given back after failed generations, per model.",
            tag_keys=("model",),
        ),
        "cache": Counter(
            "pixelray_image_cache_lookups",
            description="GET-image cache lookups by result (hit or miss).",
            tag_keys=("result",),
        ),
    }


def record_debit(*, model: str, credits: int) -> None:
    if credits > 0:
        _counters()["debited"].inc(credits, tags={"model": model})


def record_refund(*, model: str, credits: int) -> None:
    if credits > 0:
        _counters()["refunded"].inc(credits, tags={"model": model})


def record_cache_lookup(*, hit: bool) -> None:
    _counters()["cache"].inc(tags={"result": "hit" if hit else "miss"})
