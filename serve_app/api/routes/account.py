from fastapi import APIRouter

from serve_app.api.deps import ClockDep, ContextDep, CurrentPlan, CurrentUser, DatabaseDep, ServerSettingsDep
from serve_app.schemas.account import BalanceData, SettingsData, SettingsUpdate, UsageData
from serve_app.schemas.common import Envelope
from serve_app.services import credits, storage_preference
from serve_app.services.usage import usage_of

router = APIRouter(prefix="/api/v1", tags=["account"])


@router.get("/usage", response_model=Envelope[UsageData])
async def usage(
    user: CurrentUser, plan: CurrentPlan, db: DatabaseDep, clock: ClockDep, context: ContextDep
) -> Envelope[UsageData]:
    """Requests and images today and this month, with the plan's limits and what is left."""
    data = await usage_of(db=db, user=user, plan=plan, clock=clock)
    return Envelope(data=data, request_id=context.request_id)


@router.get("/balance", response_model=Envelope[BalanceData])
async def balance(user: CurrentUser, db: DatabaseDep, context: ContextDep) -> Envelope[BalanceData]:
    """The credit balance."""
    assert user.id is not None  # the signed-in user, read from the database
    data = BalanceData(balance=await credits.balance(db=db, user_id=user.id))
    return Envelope(data=data, request_id=context.request_id)


@router.get("/settings", response_model=Envelope[SettingsData])
async def get_settings(
    user: CurrentUser, plan: CurrentPlan, server_settings: ServerSettingsDep, context: ContextDep
) -> Envelope[SettingsData]:
    """Your settings: whether your images are stored and served by URL."""
    data = await storage_preference.settings_of(server=server_settings, user=user, plan=plan)
    return Envelope(data=data, request_id=context.request_id)


@router.patch("/settings", response_model=Envelope[SettingsData])
async def update_settings(
    body: SettingsUpdate,
    user: CurrentUser,
    plan: CurrentPlan,
    db: DatabaseDep,
    server_settings: ServerSettingsDep,
    context: ContextDep,
) -> Envelope[SettingsData]:
    """Turn storage of your images on or off."""
    data = await storage_preference.update_settings(db=db, server=server_settings, user=user, plan=plan, update=body)
    return Envelope(data=data, request_id=context.request_id)
