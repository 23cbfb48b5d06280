"""The batch form of POST /api/v1/generate: `{"items": [...]}`, each item its own request."""

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError

from serve_app.config import PlanConfig
from serve_app.errors import ApiError, InvalidRequest
from serve_app.schemas.common import ErrorBody
from serve_app.schemas.generate import BatchData, BatchItemResult, BatchRequest, GenerateData, GenerateRequest
from serve_app.schemas.validation import invalid_request

logger = logging.getLogger("ray.serve")

# Runs one item as a request of its own: charged, and refunded on failure, on its own.
GenerateOne = Callable[[GenerateRequest], Awaitable[GenerateData]]


async def generate_batch(
    request: BatchRequest, *, plan: PlanConfig, generate: GenerateOne, request_id: str
) -> BatchData:
    """Runs every item concurrently through `generate`, so the model deployments batch them; one
    item's failure is only its own."""
    if len(request.items) > plan.max_batch_items:
        raise InvalidRequest(
            field="items",
            message=f"{len(request.items)} items; the {plan.name} plan allows 1–{plan.max_batch_items}",
        )
    results = await asyncio.gather(
        *(_item(item, index=i, generate=generate, request_id=request_id) for i, item in enumerate(request.items))
    )
    return BatchData(results=list(results))


async def _item(item: dict[str, Any], *, index: int, generate: GenerateOne, request_id: str) -> BatchItemResult:
    try:
        try:
            request = GenerateRequest.model_validate(item)
        except ValidationError as exc:
            raise invalid_request(exc, GenerateRequest, prefix=f"items.{index}") from None
        data = await generate(request)
    except ApiError as exc:
        return BatchItemResult(success=False, error=ErrorBody(**exc.body()))
    except Exception:
        # Already refunded by the generation; the other items' results must still reach the client.
        logger.exception("batch item %d of %s failed", index, request_id)
        error = ErrorBody(code="internal_error", message="internal error; quote the request_id")
        return BatchItemResult(success=False, error=error)
    return BatchItemResult(success=True, **data.model_dump(exclude={"mode"}))
