from typing import Annotated

from fastapi import APIRouter, Query

from serve_app.api.deps import ContextDep, CurrentUser, WebhooksDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.webhooks import DeliveryList, WebhookSecretCreated

router = APIRouter(prefix="/api/v1/webhooks", tags=["webhooks"])


@router.post("/secret", status_code=201, response_model=Envelope[WebhookSecretCreated])
async def rotate_secret(
    user: CurrentUser, webhooks: WebhooksDep, context: ContextDep
) -> Envelope[WebhookSecretCreated]:
    """Create or replace your webhook signing secret; it is shown only in this response."""
    return Envelope(data=await webhooks.rotate_secret(user=user), request_id=context.request_id)


@router.get("/deliveries", response_model=Envelope[DeliveryList])
async def list_deliveries(
    user: CurrentUser,
    webhooks: WebhooksDep,
    context: ContextDep,
    job_id: Annotated[
        str | None, Query(max_length=64, description="Only this job's (or batch request's) events.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> Envelope[DeliveryList]:
    """Your webhook deliveries, newest first: status, tries, the receiver's last answer."""
    data = await webhooks.deliveries(user=user, job_id=job_id, limit=limit, offset=offset)
    return Envelope(data=data, request_id=context.request_id)
