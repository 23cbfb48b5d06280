from fastapi import APIRouter

from serve_app.api.deps import ContextDep, CurrentUser, StateDep
from serve_app.schemas.account import BalanceData, UsageData
from serve_app.schemas.common import Envelope
from serve_app.schemas.images import SettingsData, SettingsUpdate
from serve_app.services import credits, settings
from serve_app.services.usage import usage_of

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/usage", response_model=Envelope[UsageData])
async def usage(user: CurrentUser, state: StateDep, context: ContextDep) -> Envelope[UsageData]:
    """Requests and images today and this month, with the plan's limits and what is left."""
    data = await usage_of(db=state.db, user=user, plan=state.accounting.plan_of(user), clock=state.clock)
    return Envelope(data=data, request_id=context.request_id)


@router.get("/balance", response_model=Envelope[BalanceData])
async def balance(user: CurrentUser, state: StateDep, context: ContextDep) -> Envelope[BalanceData]:
    """The credit balance."""
    data = BalanceData(balance=await credits.balance(db=state.db, user_id=user.id))
    return Envelope(data=data, request_id=context.request_id)


@router.get("/settings", response_model=Envelope[SettingsData])
async def get_settings(user: CurrentUser, state: StateDep, context: ContextDep) -> Envelope[SettingsData]:
    """Your settings: whether your images are stored and served by URL."""
    data = await settings.settings_of(server=state.server_settings, user=user, plan=state.accounting.plan_of(user))
    return Envelope(data=data, request_id=context.request_id)


@router.patch("/settings", response_model=Envelope[SettingsData])
async def update_settings(
    body: SettingsUpdate, user: CurrentUser, state: StateDep, context: ContextDep
) -> Envelope[SettingsData]:
    """Turn storage of your images on or off."""
    data = await settings.update_settings(
        db=state.db, server=state.server_settings, user=user, plan=state.accounting.plan_of(user), update=body
    )
    return Envelope(data=data, request_id=context.request_id)
