"""The scraper deployment: the one place user-supplied URLs are fetched from, so production can
isolate this egress on its own nodes."""

import asyncio
from dataclasses import replace

from deployments.protocol import FetchError, PageInfo
from deployments.scraper import fetch as fetcher
from deployments.scraper.config import ScraperConfig
from deployments.scraper.extract import extract_page
from deployments.scraper.metrics import ScraperMetrics


class ScraperServer:
    def __init__(self, config: ScraperConfig):
        self._page_policy = replace(fetcher.PAGE_POLICY, allow_list=config.allow_list)
        self._image_policy = replace(fetcher.IMAGE_POLICY, allow_list=config.allow_list)
        self._webhook_policy = replace(fetcher.WEBHOOK_POLICY, allow_list=config.allow_list)
        self._metrics = ScraperMetrics()

    async def check_url(self, url: str) -> None:
        """Raises FetchError when `url` could never be fetched (scheme, port, address); no request is sent."""
        await fetcher.check_url(url, self._page_policy)

    async def scrape(self, url: str) -> PageInfo:
        """Fetches an HTML page (2 MiB cap) and extracts what it is about; raises FetchError."""
        page = await self._fetch(url, self._page_policy, kind="page")
        html = page.body.decode(page.charset or "utf-8", errors="replace")
        # Parsing a large page is CPU work: keep it off the replica's event loop.
        return await asyncio.to_thread(extract_page, html, page.url)

    async def fetch_image(self, url: str) -> bytes:
        """Downloads a PNG, JPEG or WebP (10 MiB cap); raises FetchError."""
        return (await self._fetch(url, self._image_policy, kind="image")).body

    async def check_webhook_url(self, url: str) -> None:
        """Raises FetchError when a webhook could never be delivered to `url`; nothing is sent."""
        await fetcher.check_url(url, self._webhook_policy)

    async def deliver_webhook(self, url: str, body: bytes, headers: dict[str, str], timeout_s: float) -> int:
        """POSTs one signed webhook under the same egress rules as every fetch; returns the
        receiver's HTTP status, or raises FetchError when it could not be reached."""
        policy = replace(self._webhook_policy, read_timeout_s=timeout_s, total_timeout_s=timeout_s + 5)
        try:
            status = await fetcher.post(url, body, headers, policy)
        except FetchError as exc:
            self._metrics.record_fetch(kind="webhook", outcome=exc.reason)
            raise
        self._metrics.record_fetch(kind="webhook", outcome="ok" if 200 <= status < 300 else "http_error")
        return status

    async def _fetch(self, url: str, policy: fetcher.FetchPolicy, *, kind: str) -> fetcher.FetchedResource:
        try:
            fetched = await fetcher.fetch(url, policy)
        except FetchError as exc:
            self._metrics.record_fetch(kind=kind, outcome=exc.reason)
            raise
        self._metrics.record_fetch(kind=kind, outcome="ok")
        return fetched

    async def check_health(self) -> None:
        return None
