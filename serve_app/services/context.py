"""Per-request facts that services report back for the HTTP layer to render as headers."""

from dataclasses import dataclass

from serve_app.services.limits import RateLimitStatus


@dataclass
class RequestContext:
    request_id: str
    rate_limit: RateLimitStatus | None = None

    def response_headers(self) -> dict[str, str]:
        return self.rate_limit.headers() if self.rate_limit else {}
