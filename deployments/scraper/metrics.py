"""Prometheus metrics of the scraper replica (exported by Ray with a `ray_` prefix)."""

from ray.serve.metrics import Counter


class ScraperMetrics:
    """Create inside the replica's constructor, where Serve's replica context exists."""

    def __init__(self):
        self._fetches = Counter(
            "pixelray_scraper_fetches",
            description="Server-side fetches of user URLs by kind (page, image, webhook) and outcome "
            "(ok or the FetchError reason).",
            tag_keys=("kind", "outcome"),  # type: ignore[arg-type]  # ray annotates tag_keys as a 1-tuple; it takes any number
        )

    def record_fetch(self, *, kind: str, outcome: str) -> None:
        self._fetches.inc(tags={"kind": kind, "outcome": outcome})
