from fastapi import APIRouter

from serve_app.api.deps import ConfigDep, ContextDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.image_url import ChainList, ChainPublic

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.get("/routes", response_model=Envelope[ChainList])
async def list_routes(config: ConfigDep, context: ContextDep) -> Envelope[ChainList]:
    """List the routes: named fallback chains of catalog models, tried in order."""
    chains = [ChainPublic(name=name, models=slugs) for name, slugs in config.chains.items()]
    return Envelope(data=ChainList(routes=chains), request_id=context.request_id)
