"""Request body limits, enforced before the body is read.

This is the earliest point the stack offers: Serve's proxy (uvicorn inside a Ray actor) has no
body limit and no middleware of its own, and it forwards body chunks as the replica pulls them.
So the ingress refuses a body by its `Content-Length` before pulling a byte, and counts the bytes
of a body without one, stopping at the limit. Once the 413 is sent, the proxy stops reading too.

Only the routes that take images (generate, the console playground's, OpenAI edits, upscale)
take bodies above the general limit (an img2img or inpainting image and mask, an image to
upscale); there the credentials are checked before such a body is read, so an anonymous client
cannot make the server hold one.
"""

from collections.abc import Awaitable, Callable

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.api.errors import error_response
from serve_app.config import BodyLimitsConfig
from serve_app.errors import ApiError

GENERATE_PATHS = frozenset(
    {
        "/api/v1/generate",
        "/api/v1/generate/",
        "/api/v1/generate/product",
        "/api/v1/generate/logo",
        # The console's playground: the same generation and upscaling, their images uploaded files.
        "/playground/generate",
        "/playground/upscale",
        # Edits take an image and a mask in their multipart form; upscaling takes an image.
        "/v1/images/edits",
        "/api/v1/upscale",
    }
)
# Checks the request's credentials; raises the ApiError (401, 403) a route would.
Authenticate = Callable[[Headers], Awaitable[None]]


def _too_large(limit: int) -> str:
    return f"the request body is larger than {limit:,} bytes; send a smaller body (see docs/robustness.md)"


class BodyLimitMiddleware:
    """Pure ASGI: it must see the request before anything pulls its body."""

    def __init__(self, app: ASGIApp, *, limits: BodyLimitsConfig, authenticate: Authenticate):
        self.app = app
        self.limits = limits
        self.authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        large = scope["path"] in GENERATE_PATHS
        limit = self.limits.max_generate_body_bytes if large else self.limits.max_body_bytes
        declared = _content_length(headers)
        if declared is not None and declared > limit:
            await self._refuse(scope, receive, send, status_code=413, error=_payload_too_large(limit))
            return
        # A body that may exceed the general limit is read only for a valid key.
        if large and (declared is None or declared > self.limits.max_body_bytes) and _has_body(scope, declared):
            try:
                await self.authenticate(headers)
            except ApiError as exc:
                await self._refuse(
                    scope, receive, send, status_code=exc.status_code, error=exc.body(), headers=exc.headers
                )
                return
        await self.app(scope, _counting(receive, limit), send)

    @staticmethod
    async def _refuse(
        scope: Scope, receive: Receive, send: Send, *, status_code: int, error: dict, headers: dict | None = None
    ) -> None:
        # The connection cannot be reused with an unread body: the client must not send the next
        # request on it (uvicorn closes it too).
        response = error_response(
            Request(scope), status_code=status_code, error=error, headers={**(headers or {}), "Connection": "close"}
        )
        await response(scope, receive, send)


def _payload_too_large(limit: int) -> dict:
    return {"code": "payload_too_large", "message": _too_large(limit)}


def _content_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    # uvicorn refuses a malformed Content-Length before the app sees the request.
    return int(value) if value is not None and value.isdigit() else None


def _has_body(scope: Scope, declared: int | None) -> bool:
    if declared is not None:
        return declared > 0
    return any(name == b"transfer-encoding" for name, _ in scope["headers"])


def _counting(receive: Receive, limit: int) -> Receive:
    """`receive` that raises a 413 once more than `limit` body bytes came (a chunked body, or
    one longer than it declared); FastAPI renders it like any HTTPException."""
    received = 0

    async def counted() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                raise HTTPException(status_code=413, detail=_too_large(limit))
        return message

    return counted
