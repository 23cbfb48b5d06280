from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, PromptsDep
from serve_app.schemas.common import Envelope
from serve_app.schemas.prompts import BuildData, BuildRequest, EnhanceData, EnhanceRequest
from serve_app.services.prompts import build_prompt

router = APIRouter(prefix="/api/v1/prompt", tags=["prompts"])


@router.post("/enhance", response_model=Envelope[EnhanceData])
async def enhance(
    body: EnhanceRequest, user: CurrentUser, prompts: PromptsDep, context: ContextDep
) -> Envelope[EnhanceData]:
    """Expand an idea into a detailed prompt (LLM when configured, else rules)."""
    result = await prompts.enhance(prompt=body.prompt, tone=body.tone)
    return Envelope(data=EnhanceData(prompt=result.prompt, enhancer=result.enhancer), request_id=context.request_id)


@router.post("/build", response_model=Envelope[BuildData])
async def build(body: BuildRequest, user: CurrentUser, context: ContextDep) -> Envelope[BuildData]:
    """Assemble a prompt from its parts: subject, setting, mood, style, lighting, camera, extras."""
    return Envelope(data=BuildData(prompt=build_prompt(body.model_dump())), request_id=context.request_id)
