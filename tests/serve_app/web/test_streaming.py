"""A playground run as Server-Sent Events: steps in order, then the result; a failure before the
first step raises (an error page), one after it is an `error` event; a page that goes away
cancels the run. The runs here are plain coroutines reporting steps as the generation service does."""

import asyncio
import json

import pytest

from deployments.protocol import GenerationProgress
from serve_app.errors import InsufficientCredits, InvalidRequest
from serve_app.web.streaming import Step, server_sent, with_progress


def frames(text: str) -> list[tuple[str, dict]]:
    parsed = []
    for frame in text.strip().split("\n\n"):
        event, data = frame.split("\n")
        parsed.append((event.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return parsed


async def collect(first, events) -> list[tuple[str, dict]]:
    stream = server_sent(
        first,
        events,
        media_type="image/png",
        result_html=lambda result: asyncio.sleep(0, result=f"<p>{result}</p>"),
        error_html=lambda message: f"<div>{message}</div>",
    )
    return frames("".join([chunk async for chunk in stream]))


async def test_steps_come_in_order_with_their_previews_then_the_result():
    async def run(on_progress):
        for step in (1, 2, 3):
            on_progress(0, GenerationProgress(step=step, total=3, preview=b"\x89PNG" if step == 2 else None))
            await asyncio.sleep(0)
        return "done"

    events = with_progress(run)
    sent = await collect(await anext(events), events)

    assert [name for name, _ in sent] == ["progress"] * 3 + ["result"]
    assert [data["step"] for _, data in sent[:3]] == [1, 2, 3]
    assert [data["preview"] for _, data in sent[:3]] == [None, "data:image/png;base64,iVBORw==", None]
    assert sent[-1][1] == {"html": "<p>done</p>"}


async def test_a_failure_before_the_first_step_raises_from_the_first_event():
    async def run(on_progress):
        raise InsufficientCredits(balance=0, cost=1)

    with pytest.raises(InsufficientCredits):
        await anext(with_progress(run))


async def test_a_failure_after_the_first_step_is_an_error_event():
    async def run(on_progress):
        on_progress(0, GenerationProgress(step=1, total=2))
        await asyncio.sleep(0)
        raise InvalidRequest(field="mask", message="the mask is 32x32, the image 64x64")

    events = with_progress(run)
    sent = await collect(await anext(events), events)

    assert sent[-1] == ("error", {"html": "<div>mask: the mask is 32x32, the image 64x64</div>"})


async def test_closing_the_stream_cancels_the_run():
    cancelled = asyncio.Event()

    async def run(on_progress):
        on_progress(0, GenerationProgress(step=1, total=50))
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    events = with_progress(run)
    assert isinstance(await anext(events), Step)
    await events.aclose()
    await asyncio.wait_for(cancelled.wait(), timeout=5)
