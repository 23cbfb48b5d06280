"""Typed errors raised where a problem is found; `api/errors.py` renders them into one envelope."""


class ApiError(Exception):
    """An error a client can act on. Subclasses fix the status and the machine-readable code."""

    status_code = 500
    code = "internal_error"
    # What the GET-image endpoints put in `X-Error-Code` (and on the placeholder image).
    image_code = "GENERATION_FAILED"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict:
        return {"code": self.code, "message": self.message}


class InvalidRequest(ApiError):
    """Bad input: the message names the field and what is allowed."""

    status_code = 400
    code = "invalid_request"
    image_code = "VALIDATION_ERROR"

    def __init__(self, *, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field

    def body(self) -> dict:
        return {**super().body(), "field": self.field}


class UnknownModel(InvalidRequest):
    code = "unknown_model"
    image_code = "UNKNOWN_MODEL"

    def __init__(self, *, slug: str, known: list[str]):
        super().__init__(field="model", message=f"unknown model {slug!r}; known models: {', '.join(known)}")


class Unauthorized(ApiError):
    status_code = 401
    code = "unauthorized"

    def __init__(self, message: str = "missing or invalid API key"):
        super().__init__(message, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ApiError):
    """Authenticated, but not allowed: a suspended user or a plan without API access."""

    status_code = 403
    code = "forbidden"
    image_code = "LIMIT"


class InsufficientCredits(ApiError):
    status_code = 402
    code = "insufficient_credits"
    image_code = "CREDITS_EXHAUSTED"

    def __init__(self, *, balance: int, cost: int):
        super().__init__(f"this request costs {cost} credits and the balance is {balance}; add credits and retry")
        self.balance = balance
        self.cost = cost

    def body(self) -> dict:
        return {**super().body(), "balance": self.balance, "cost": self.cost}


class RateLimited(ApiError):
    """A rate limit, quota or concurrency limit was reached; nothing was charged."""

    status_code = 429
    code = "rate_limited"
    image_code = "LIMIT"

    def __init__(self, message: str, *, retry_after: int, code: str = "rate_limited", headers: dict | None = None):
        retry_after = max(1, retry_after)
        super().__init__(message, headers={**(headers or {}), "Retry-After": str(retry_after)})
        self.code = code
        self.retry_after = retry_after

    def body(self) -> dict:
        return {**super().body(), "retry_after": self.retry_after}


class NotFound(ApiError):
    status_code = 404
    code = "not_found"

    def __init__(self, message: str, *, headers: dict[str, str] | None = None):
        super().__init__(message, headers=headers)


class UnknownChain(InvalidRequest):
    # Requests name a chain in their `route` parameter, so the codes and message speak of routes.
    code = "unknown_route"
    image_code = "UNKNOWN_ROUTE"

    def __init__(self, *, name: str, known: list[str]):
        super().__init__(field="route", message=f"unknown route {name!r}; known routes: {', '.join(known) or 'none'}")


class ProjectNotFound(NotFound):
    image_code = "PROJECT_NOT_FOUND"

    def __init__(self, slug: str, *, message: str | None = None):
        super().__init__(message or f"no project {slug!r}; create it with `pixelray projects create`")


class SignatureInvalid(ApiError):
    """A signed project's URL lacks `sig`, carries a wrong one, or has expired."""

    status_code = 403
    code = "signature_invalid"
    image_code = "SIGNATURE_INVALID"


class ReferrerNotAllowed(ApiError):
    """The project only serves pages on its allowed origins."""

    status_code = 403
    code = "referrer_not_allowed"
    image_code = "REFERRER_NOT_ALLOWED"


class GenerationFailed(ApiError):
    """The model failed on this request; whatever was charged has been refunded."""

    status_code = 502
    code = "generation_failed"


class ServiceUnavailable(ApiError):
    """Overloaded or a dependency is down: retry later."""

    status_code = 503
    code = "service_unavailable"

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message, headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after

    def body(self) -> dict:
        return {**super().body(), "retry_after": self.retry_after}


class Overloaded(ServiceUnavailable):
    """A model's queue is full or it has no healthy replica: a fast 503 with Retry-After,
    raised before any charge is kept."""

    code = "overloaded"


class IdempotencyKeyInUse(ApiError):
    """The first request with this Idempotency-Key is still running: retry to get its response."""

    status_code = 409
    code = "idempotency_key_in_use"

    def __init__(self, *, retry_after: int = 1):
        super().__init__(
            "a request with this Idempotency-Key is still running; retry shortly to receive its response",
            headers={"Retry-After": str(retry_after)},
        )


class IdempotencyKeyReused(ApiError):
    """The Idempotency-Key was first used with another request body or endpoint."""

    status_code = 422
    code = "idempotency_key_reused"

    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was already used with a different request; send a new key for a new request"
        )


class JobAlreadyEnded(ApiError):
    """A cancel that came too late: the job completed or failed first, and nothing changed."""

    status_code = 409
    code = "job_already_ended"

    def __init__(self, *, job_id: str, status: str):
        super().__init__(f"job {job_id!r} already ended as {status}; only queued or running jobs can be cancelled")
