"""Requests sent straight into an ASGI app, as a server hands them over and nothing more, so an
in-process profile holds the app's own work and no HTTP client's."""

import asyncio


async def call(
    app, method: str, path: str, *, query: str = "", body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, bytes]:
    """(status, body) of one request; the client never disconnects, so the request runs to its end."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "server": ("bench", 80),
        "client": ("127.0.0.1", 50000),
        "root_path": "",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [
            (b"host", b"bench"),
            (b"accept", b"*/*"),
            *([(b"content-length", str(len(body)).encode())] if body else []),
            *((name.lower().encode(), value.encode()) for name, value in (headers or {}).items()),
        ],
    }
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)
