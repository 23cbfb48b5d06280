"""The batch form of POST /api/v1/generate: `{"items": [...]}`, each item its own request."""

import asyncio
import logging
from typing import TYPE_CHECKING

from pydantic import ValidationError

from serve_app.db.models import User
from serve_app.errors import ApiError, InvalidRequest
from serve_app.schemas.common import ErrorBody
from serve_app.schemas.generate import BatchData, BatchItemResult, BatchRequest, GenerateRequest
from serve_app.schemas.validation import invalid_request
from serve_app.services.context import RequestContext
from serve_app.services.variants import PromptVariant

if TYPE_CHECKING:
    from serve_app.services.generation import GenerationService

logger = logging.getLogger("ray.serve")


async def generate_batch(
    generation: "GenerationService",
    *,
    user: User,
    request: BatchRequest,
    context: RequestContext,
    variant: PromptVariant | None = None,
) -> BatchData:
    """Runs every item concurrently, so the model deployments batch them. Each item is
    validated, charged and refunded on its own; one item's failure is only its own."""
    plan = generation.plan_of(user)
    if len(request.items) > plan.max_batch_items:
        raise InvalidRequest(
            field="items",
            message=f"{len(request.items)} items; the {plan.name} plan allows 1–{plan.max_batch_items}",
        )
    results = await asyncio.gather(
        *(_item(generation, user=user, item=item, index=i, context=context, variant=variant)
          for i, item in enumerate(request.items))
    )
    return BatchData(results=list(results))


async def _item(
    generation: "GenerationService",
    *,
    user: User,
    item: dict,
    index: int,
    context: RequestContext,
    variant: PromptVariant | None,
) -> BatchItemResult:
    try:
        try:
            request = GenerateRequest.model_validate(item)
        except ValidationError as exc:
            raise invalid_request(exc, GenerateRequest, prefix=f"items.{index}") from None
        # Each item is its own billable request, with its own admission id in the ledger.
        data = await generation.generate(user=user, request=request, context=context, variant=variant)
    except ApiError as exc:
        return BatchItemResult(success=False, error=ErrorBody(**exc.body()))
    except Exception:
        # Already refunded by `run`; the other items' results must still reach the client.
        logger.exception("batch item %d of %s failed", index, context.request_id)
        error = ErrorBody(code="internal_error", message="internal error; quote the request_id")
        return BatchItemResult(success=False, error=error)
    return BatchItemResult(success=True, **data.model_dump(exclude={"mode"}))
