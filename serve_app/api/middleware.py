"""Request ids: every response carries X-Request-Id, and error bodies repeat it.

Behind Serve the proxy has already put an id in the request's `x-request-id` header (the
client's own, or one it made) and adds it to the response itself; we reuse it so one id links
the client, our envelope and Serve's access logs. Outside Serve we make and send our own.
"""

import re
import secrets

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_ID_HEADER = "X-Request-Id"
_USABLE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_request_id() -> str:
    return f"req_{secrets.token_hex(12)}"


class RequestIdMiddleware:
    """Pure ASGI (no BaseHTTPMiddleware): it sits on the hot path of every request."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = Headers(scope=scope).get(REQUEST_ID_HEADER)
        if incoming and _USABLE_ID.match(incoming):
            scope.setdefault("state", {})["request_id"] = incoming
            await self.app(scope, receive, send)
            return
        request_id = new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message).append(REQUEST_ID_HEADER, request_id)
            await send(message)

        await self.app(scope, receive, send_with_id)
