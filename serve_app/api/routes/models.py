from fastapi import APIRouter

from serve_app.api.deps import ConfigDep, ContextDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.models import ModelList, ModelPublic

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.get("/models", response_model=Envelope[ModelList])
async def list_models(config: ConfigDep, context: ContextDep) -> Envelope[ModelList]:
    """List the model catalog with credit costs, modes and size limits."""
    default = config.default_model_slug
    models = [ModelPublic.from_config(m, default=m.slug == default) for m in config.models]
    return Envelope(data=ModelList(models=models), request_id=context.request_id)
