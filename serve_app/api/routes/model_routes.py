from fastapi import APIRouter

from serve_app.api.deps import ConfigDep, ContextDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.image_url import RouteList, RoutePublic

router = APIRouter(prefix="/api/v1", tags=["models"])


@router.get("/routes", response_model=Envelope[RouteList])
async def list_routes(config: ConfigDep, context: ContextDep) -> Envelope[RouteList]:
    """List the routes: named fallback chains of catalog models, tried in order."""
    routes = [RoutePublic(name=name, models=slugs) for name, slugs in config.routes.items()]
    return Envelope(data=RouteList(routes=routes), request_id=context.request_id)
