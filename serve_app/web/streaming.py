"""A playground run streamed to the page as Server-Sent Events: `progress` for each denoising
step (now and then with a preview image), then `result` with the result's HTML, or `error`.

The events come back on the response of the POST that started the run, not on a second request
(an EventSource GET): the run lives on the ingress replica that admitted it, and a second request
could reach another replica. It also keeps the upload and the CSRF token on one POST, and a page
that goes away stops the run and refunds it, as for the API's streamed generations.
"""

import asyncio
import base64
import json
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from deployments.protocol import GenerationProgress
from serve_app.errors import ApiError

logger = logging.getLogger("ray.serve")

Result = TypeVar("Result")
OnProgress = Callable[[int, GenerationProgress], None]


@dataclass(frozen=True)
class Step:
    """One denoising step of image `index` of the run."""

    index: int
    progress: GenerationProgress


async def with_progress(run: Callable[[OnProgress], Awaitable[Result]]) -> AsyncGenerator[Step | Result, None]:
    """Starts `run(on_progress)` and yields each step it reports, then its result. What fails
    before the first step raises from the first `anext`; closing the iterator cancels the run."""
    events: asyncio.Queue[Step | None] = asyncio.Queue()
    task = asyncio.ensure_future(run(lambda index, progress: events.put_nowait(Step(index, progress))))
    # Steps are queued from inside the run, so the end marker always comes after the last one.
    task.add_done_callback(lambda _: events.put_nowait(None))
    try:
        while (step := await events.get()) is not None:
            yield step
        yield task.result()
    finally:
        task.cancel()


async def server_sent(
    first: Step | Result,
    events: AsyncGenerator[Step | Result, None],
    *,
    media_type: str,
    result_html: Callable[[Result], Awaitable[str]],
    error_html: Callable[[str], str],
) -> AsyncIterator[str]:
    """The events as SSE frames; previews as data URLs of `media_type`. A failure after the
    first event becomes an `error` event (the run was refunded)."""
    try:
        event = first
        while isinstance(event, Step):
            yield _frame("progress", _progress(event, media_type))
            event = await anext(events)
        yield _frame("result", {"html": await result_html(event)})
    except ApiError as exc:
        yield _frame("error", {"html": error_html(exc.message)})
    except Exception:
        logger.exception("streamed playground run failed")
        yield _frame("error", {"html": error_html("the generation failed; its credits were refunded")})
    finally:
        await events.aclose()


def _progress(step: Step, media_type: str) -> dict:
    preview = step.progress.preview
    return {
        "image": step.index,
        "step": step.progress.step,
        "total": step.progress.total,
        "preview": f"data:{media_type};base64,{base64.b64encode(preview).decode()}" if preview else None,
    }


def _frame(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"
