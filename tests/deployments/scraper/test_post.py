"""Webhook POSTs through the SSRF-safe fetcher: sent to allow-listed loopback with the body and
headers given, answered by status, never redirected, never to a private address."""

import dataclasses
import socket

import pytest

from deployments.protocol import FetchError
from deployments.scraper.fetch import WEBHOOK_POLICY, post
from tests.support.webhooks import WebhookReceiver

LOCAL = dataclasses.replace(WEBHOOK_POLICY, allow_list=("127.0.0.1/32",))


@pytest.fixture(scope="module")
def receiver():
    with WebhookReceiver() as server:
        yield server


async def test_a_post_carries_the_body_and_headers_and_returns_the_status(receiver):
    receiver.fail_first["/fails"] = 1
    assert await post(receiver.url("/ok"), b'{"a":1}', {"webhook-id": "msg_1"}, LOCAL) == 204
    assert await post(receiver.url("/fails"), b"{}", {}, LOCAL) == 500
    [received] = receiver.at("/ok")
    assert received.body == b'{"a":1}' and received.headers["webhook-id"] == "msg_1"
    assert received.headers["host"] == f"127.0.0.1:{receiver.port}"


@pytest.mark.parametrize("url", ["http://127.0.0.1:{port}/x", "http://10.1.2.3/x", "http://[::1]:{port}/x"])
async def test_a_private_address_is_refused_without_a_connection(receiver, url):
    with pytest.raises(FetchError) as refused:
        await post(url.format(port=receiver.port), b"{}", {}, WEBHOOK_POLICY)
    assert refused.value.reason == "blocked_address"
    assert receiver.at("/x") == []


async def test_a_closed_port_is_a_connection_failure():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(FetchError) as failed:
        await post(f"http://127.0.0.1:{port}/x", b"{}", {}, LOCAL)
    assert failed.value.reason == "connection_failed"
