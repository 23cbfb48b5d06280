from fastapi import APIRouter
from fastapi.responses import JSONResponse

from serve_app.api.deps import ConfigDep, ContextDep, DatabaseDep, ModelsDep, StoreDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.health import HealthData
from serve_app.services.health import check_health

router = APIRouter(prefix="/api/v1", tags=["health"])


@router.get("/health", response_model=Envelope[HealthData])
async def health(
    config: ConfigDep, db: DatabaseDep, store: StoreDep, models: ModelsDep, context: ContextDep
) -> JSONResponse:
    """Check the database, the object store and every model deployment."""
    data = await check_health(config=config, db=db, store=store, models=models)
    # A degraded service answers 503 so that load balancers and probes can act on the status.
    return JSONResponse(
        status_code=200 if data.status == "healthy" else 503,
        content=Envelope(data=data, request_id=context.request_id).model_dump(mode="json"),
    )
