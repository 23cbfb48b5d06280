"""Per-request facts that services report back for the HTTP layer to render as headers."""

from dataclasses import dataclass

from serve_app.services.limits import RateLimitStatus


@dataclass
class RequestContext:
    request_id: str
    rate_limit: RateLimitStatus | None = None
    model_seconds: float | None = None
    """Time on the model replicas (`Server-Timing: model`): the longest of a request's images,
    which run together, plus a second pass (hires) after it."""

    def add_model_time(self, seconds: float) -> None:
        self.model_seconds = (self.model_seconds or 0.0) + seconds

    def response_headers(self) -> dict[str, str]:
        headers = self.rate_limit.headers() if self.rate_limit else {}
        if self.model_seconds is not None:
            headers["Server-Timing"] = f"model;dur={self.model_seconds * 1000:.1f}"
        return headers
