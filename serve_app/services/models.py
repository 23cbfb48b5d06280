"""Calls into the diffusion deployments, mapping Serve's failures to API errors."""

import asyncio
import logging
import math
from collections.abc import Callable
from typing import Any

from ray.serve.exceptions import BackPressureError, DeploymentUnavailableError

from deployments.protocol import GenerationError, GenerationParams, GenerationProgress, GenerationResult
from serve_app.errors import GenerationFailed, Overloaded

logger = logging.getLogger("ray.serve")


class ModelClient:
    """One handle per catalog slug."""

    def __init__(self, handles: dict[str, Any], *, timeout_s: float):
        self._handles = handles
        self._timeout_s = timeout_s

    async def generate(
        self,
        slug: str,
        params: GenerationParams,
        *,
        on_progress: Callable[[GenerationProgress], None] | None = None,
    ) -> GenerationResult:
        """The image of `params`; with `on_progress`, streamed from the replica, which reports
        every denoising step (and its previews) on the way."""
        handle = self._handles[slug]
        if params.adapters:
            # Serve routes the request to a replica that already holds this adapter set.
            handle = handle.options(multiplexed_model_id=params.adapter_set)
        if on_progress is None:
            response = handle.generate.remote(params)
            work = _awaited(response)
        else:
            response = handle.options(stream=True).generate_stream.remote(params)
            work = _streamed(response, on_progress)
        try:
            return await asyncio.wait_for(work, timeout=self._timeout_s)
        except asyncio.CancelledError:
            # Nobody waits for this image any more (the client hung up): the replica drops it
            # from its queue, or stops its pipeline call when no other caller is left.
            response.cancel()
            raise
        except BackPressureError as exc:
            raise Overloaded(
                f"model {slug!r} is at capacity (its queue is full); retry shortly",
                retry_after=math.ceil(exc.retry_after_s or 1),
            ) from None
        except DeploymentUnavailableError:
            raise Overloaded(f"model {slug!r} has no healthy replica; retry shortly", retry_after=5) from None
        except TimeoutError:
            response.cancel()
            raise GenerationFailed(f"model {slug!r} did not answer within {self._timeout_s:g} s") from None
        except GenerationError as exc:
            raise GenerationFailed(f"model {slug!r} failed: {unwrap(exc)}") from None
        except Exception as exc:
            logger.exception("model %s failed", slug)
            raise GenerationFailed(f"model {slug!r} failed ({type(exc).__name__})") from None

    async def check(self, slug: str, *, timeout_s: float = 5.0) -> None:
        """Raises unless the deployment answers a health probe in time."""
        await asyncio.wait_for(_awaited(self._handles[slug].check_health.remote()), timeout=timeout_s)


async def _awaited(response: Any) -> Any:
    return await response


async def _streamed(response: Any, on_progress: Callable[[GenerationProgress], None]) -> GenerationResult:
    async for event in response:
        if isinstance(event, GenerationProgress):
            on_progress(event)
        else:
            return event
    raise GenerationError("the model's stream ended without an image")


def unwrap(exc: BaseException) -> BaseException:
    """The exception a replica raised; Ray wraps it in a RayTaskError that keeps it as `cause`."""
    return getattr(exc, "cause", None) or exc
