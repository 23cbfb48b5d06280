"""Per-request context: a request id on every response (and in error bodies), and the headers
services report back (RateLimit) added to whatever response goes out, errors included.

Behind Serve the proxy has already put an id in the request's `x-request-id` header (the
client's own, or one it made) and adds it to the response itself; we reuse it so one id links
the client, our envelope and Serve's access logs. Outside Serve we make and send our own.
"""

import re
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serve_app.services.context import RequestContext

REQUEST_ID_HEADER = "X-Request-Id"
_USABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


class RequestContextMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it sits on the hot path of every request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        from_proxy = bool(incoming and _USABLE_ID.match(incoming))
        context = RequestContext(request_id=incoming if incoming and from_proxy else new_request_id())
        scope.setdefault("state", {})["context"] = context

        async def send_with_context(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if not from_proxy:
                    headers.append(REQUEST_ID_HEADER, context.request_id)
                for name, value in context.response_headers().items():
                    if name not in headers:
                        headers.append(name, value)
            await send(message)

        await self.app(scope, receive, send_with_context)
