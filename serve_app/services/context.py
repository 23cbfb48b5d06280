"""Per-request facts that services report back for the HTTP layer to render as headers."""

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from serve_app.services.limits import RateLimitStatus


@dataclass
class RequestContext:
    request_id: str
    rate_limit: RateLimitStatus | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage of the request (`Server-Timing`), in the order the stages first ran:
    `admit` (the ledger's debit), `model` (time on the model replicas: the longest of a request's
    images, which run together, plus a second pass (hires) after it), `store` (the images into
    the object store), `settle` (the ledger's settlement). What the client measures beyond their
    sum is the network, the proxy, request parsing and authentication, and Serve's hops."""

    def add_time(self, stage: str, seconds: float) -> None:
        self.timings[stage] = self.timings.get(stage, 0.0) + seconds

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.add_time(stage, time.perf_counter() - started)

    def response_headers(self) -> dict[str, str]:
        headers = self.rate_limit.headers() if self.rate_limit else {}
        if self.timings:
            headers["Server-Timing"] = ", ".join(
                f"{stage};dur={seconds * 1000:.1f}" for stage, seconds in self.timings.items()
            )
        return headers
