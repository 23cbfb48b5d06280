"""The dashboard, the gallery, usage and credits, and settings."""

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from serve_app.api.deps import StateDep
from serve_app.schemas.account import SettingsUpdate
from serve_app.services import activity, credits, images, storage_preference
from serve_app.services.usage import usage_of
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.pagination import Pager
from serve_app.web.rendering import ConsoleRoute, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)
GALLERY_PAGE = 12
LEDGER_PAGE = 20
PageQuery = Annotated[int, Query(ge=1, le=100_000, description="Page number, from 1.")]


@router.get("/")
async def dashboard(request: Request, state: StateDep, console: ConsoleSessionDep) -> Response:
    """Balance, plan, today's use and recent images."""
    assert console.user.id is not None  # the signed-in user, read from the database
    plan = state.accounting.plan_of(console.user)
    usage = await usage_of(db=state.db, user=console.user, plan=plan, clock=state.clock)
    recent = await images.list_images(db=state.db, store=state.store, user=console.user, limit=6, offset=0)
    return render(
        request,
        "dashboard.html",
        plan=plan,
        usage=usage,
        recent=recent.images,
        balance=await credits.balance(db=state.db, user_id=console.user.id),
    )


@router.get("/gallery")
async def gallery(request: Request, state: StateDep, console: ConsoleSessionDep, page: PageQuery = 1) -> Response:
    """The user's stored images, newest first."""
    listed = await images.list_images(
        db=state.db, store=state.store, user=console.user, limit=GALLERY_PAGE, offset=(page - 1) * GALLERY_PAGE
    )
    return render(
        request, "gallery.html", images=listed.images, pager=Pager(page=page, size=GALLERY_PAGE, total=listed.total)
    )


@router.post("/gallery/{image_id}/delete")
async def delete_image(image_id: str, request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """Delete one of the user's images and its file."""
    await images.delete_image(db=state.db, store=state.store, user=console.user, image_id=image_id)
    # The card is replaced by nothing.
    return Response(status_code=200)


@router.get("/usage")
async def usage_page(request: Request, state: StateDep, console: ConsoleSessionDep, page: PageQuery = 1) -> Response:
    """Balance, plan limits, the 30-day chart and the credit ledger."""
    assert console.user.id is not None  # the signed-in user, read from the database
    plan = state.accounting.plan_of(console.user)
    usage = await usage_of(db=state.db, user=console.user, plan=plan, clock=state.clock)
    days = await activity.daily_activity(db=state.db, user_id=console.user.id, clock=state.clock)
    ledger = await activity.ledger_page(
        db=state.db, user_id=console.user.id, limit=LEDGER_PAGE, offset=(page - 1) * LEDGER_PAGE
    )
    chart = {
        "days": [day.day.isoformat() for day in days],
        "images": [day.images for day in days],
        "credits": [day.credits for day in days],
    }
    return render(
        request,
        "usage.html",
        plan=plan,
        usage=usage,
        chart=chart,
        ledger=ledger.entries,
        pager=Pager(page=page, size=LEDGER_PAGE, total=ledger.total),
        balance=await credits.balance(db=state.db, user_id=console.user.id),
    )


@router.get("/settings")
async def settings_page(request: Request, state: StateDep, console: ConsoleSessionDep) -> Response:
    """The storage preference."""
    data = await storage_preference.settings_of(
        server=state.server_settings, user=console.user, plan=state.accounting.plan_of(console.user)
    )
    return render(request, "settings.html", settings=data, server_storage=await state.server_settings.storage_enabled())


@router.post("/settings")
async def update_settings(
    request: Request, state: StateDep, console: CsrfSessionDep, storage_enabled: Annotated[str, Form()] = "off"
) -> Response:
    """Save the storage preference."""
    data = await storage_preference.update_settings(
        db=state.db,
        server=state.server_settings,
        user=console.user,
        plan=state.accounting.plan_of(console.user),
        update=SettingsUpdate(storage_enabled=storage_enabled == "on"),
    )
    server_storage = await state.server_settings.storage_enabled()
    return render(request, "settings.html", settings=data, server_storage=server_storage, saved=True)
