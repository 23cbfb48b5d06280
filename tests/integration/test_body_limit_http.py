"""Body limits on the real Serve application, over raw HTTP: the answer comes before the body is
sent at all, so neither the proxy nor the ingress can have buffered it."""

import asyncio
from urllib.parse import urlsplit

import pytest

from tests.factories import user_with_key

pytestmark = pytest.mark.serve

MIB = 1024 * 1024


async def answer_to_headers(
    base_url: str, path: str, *, content_length: int, authorization: str = ""
) -> tuple[int, str]:
    """Sends only the request head, declaring `content_length` body bytes, and returns the status
    line's code and the raw answer: the server must answer without waiting for the body."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    head = f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
    if authorization:
        head += f"Authorization: {authorization}\r\n"
    writer.write(f"{head}Content-Length: {content_length}\r\n\r\n".encode())
    await writer.drain()
    try:
        # The server closes the connection after its answer (the body was never read).
        answer = await asyncio.wait_for(reader.read(), timeout=60)
    finally:
        writer.close()
    return int(answer.split(b" ", 2)[1]), answer.decode(errors="replace")


async def test_a_100_mb_body_is_refused_with_413_before_it_is_sent(serve_app):
    status, answer = await answer_to_headers(serve_app.base_url, "/api/v1/generate", content_length=100 * MIB)
    assert status == 413
    assert "payload_too_large" in answer


async def test_a_large_body_without_a_key_is_refused_with_401_before_it_is_sent(serve_app):
    status, answer = await answer_to_headers(serve_app.base_url, "/api/v1/generate", content_length=12 * MIB)
    assert status == 401
    assert "unauthorized" in answer


async def test_a_small_route_refuses_a_megabyte_before_it_is_sent(serve_app):
    _, key = await user_with_key(serve_app.db)
    status, _ = await answer_to_headers(
        serve_app.base_url, "/api/v1/prompt/enhance", content_length=MIB, authorization=f"Bearer {key}"
    )
    assert status == 413
