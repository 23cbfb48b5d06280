from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import Discriminator, Tag

from serve_app.api.deps import ContextDep, CurrentUser, GenerationDep, HeroDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.generate import GenerateData, GenerateRequest
from serve_app.schemas.hero import HeroAccepted, HeroRequest

router = APIRouter(prefix="/api/v1", tags=["generate"])


def _body_kind(body: Any) -> str:
    return "HeroRequest" if isinstance(body, dict) and "url" in body else "GenerateRequest"


# One path, two contracts told apart by the `url` key. Tags are class names so that validation
# errors can be traced back to their model (see api/errors.py).
GenerateBody = Annotated[
    Annotated[GenerateRequest, Tag("GenerateRequest")] | Annotated[HeroRequest, Tag("HeroRequest")],
    Discriminator(_body_kind),
    Body(),
]


@router.post(
    "/generate",
    response_model=Envelope[GenerateData],
    responses={202: {"model": HeroAccepted, "description": "A `url` body: the hero image job was queued."}},
)
@router.post("/generate/", response_model=Envelope[GenerateData], include_in_schema=False)
async def generate(
    body: GenerateBody, user: CurrentUser, generation: GenerationDep, hero: HeroDep, context: ContextDep
) -> Any:
    """Generate an image from a prompt (sync), or queue a hero image for a page `url` (202)."""
    if isinstance(body, HeroRequest):
        accepted = await hero.submit(user=user, request=body, context=context)
        return JSONResponse(status_code=202, content=accepted.model_dump(mode="json"))
    data = await generation.generate(user=user, request=body, context=context)
    return Envelope(data=data, request_id=context.request_id)
