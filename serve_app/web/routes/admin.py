"""Admin pages (the `admin` role, set with `pixelray users role`): users, the model catalog, the
server's storage switch.
Everyone else gets 403 on every page and action here."""

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from serve_app.api.deps import StateDep
from serve_app.errors import InvalidRequest
from serve_app.services import admin, credits, users
from serve_app.services.health import check_health
from serve_app.web.deps import AdminCsrfDep, AdminDep
from serve_app.web.pagination import Pager
from serve_app.web.rendering import ConsoleRoute, is_htmx, render

router = APIRouter(prefix="/admin", route_class=ConsoleRoute, include_in_schema=False)
PAGE = 20


async def _users(request: Request, state, *, q: str, page: int, message: str | None = None) -> Response:
    found = await admin.search_users(db=state.db, q=q, limit=PAGE, offset=(page - 1) * PAGE)
    template = "partials/admin_users.html" if is_htmx(request) else "admin_users.html"
    return render(
        request,
        template,
        rows=found.users,
        q=q,
        plans=[p.slug for p in state.config.plans],
        pager=Pager(page=page, size=PAGE, total=found.total),
        message=message,
    )


@router.get("")
async def admin_users(
    request: Request,
    state: StateDep,
    console: AdminDep,
    q: Annotated[str, Query(max_length=200)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    """Users, searchable by name."""
    return await _users(request, state, q=q, page=page)


@router.post("/users/{user_id}/plan")
async def set_plan(
    user_id: int, request: Request, state: StateDep, console: AdminCsrfDep, plan: Annotated[str, Form(max_length=64)]
) -> Response:
    """Move a user to another plan."""
    await admin.set_plan(db=state.db, config=state.config, user_id=user_id, plan=plan)
    return await _users(request, state, q="", page=1, message=f"plan of user {user_id} set to {plan}")


@router.post("/users/{user_id}/suspend")
async def suspend(
    user_id: int, request: Request, state: StateDep, console: AdminCsrfDep, suspended: Annotated[str, Form()] = "on"
) -> Response:
    """Suspend a user, or reinstate one."""
    if user_id == console.user.id:
        raise InvalidRequest(field="user", message="you cannot suspend your own account")
    await users.set_suspended(db=state.db, user_id=user_id, suspended=suspended == "on")
    state_word = "suspended" if suspended == "on" else "active"
    return await _users(request, state, q="", page=1, message=f"user {user_id} is now {state_word}")


@router.post("/users/{user_id}/credits")
async def grant(
    user_id: int,
    request: Request,
    state: StateDep,
    console: AdminCsrfDep,
    amount: Annotated[int, Form(ge=1, le=10_000_000)],
    note: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    """Grant credits to a user."""
    balance = await credits.grant(
        db=state.db, user_id=user_id, amount=amount, note=note or f"granted by {console.user.name}"
    )
    return await _users(
        request, state, q="", page=1, message=f"granted {amount} credits to user {user_id}; balance {balance}"
    )


@router.get("/models")
async def admin_models(request: Request, state: StateDep, console: AdminDep) -> Response:
    """The model catalog with health and work in progress, and the server's storage switch."""
    health = await check_health(config=state.config, db=state.db, store=state.store, models=state.models)
    return render(
        request,
        "admin_models.html",
        models=state.config.models,
        health=health,
        running=await admin.running_by_model(db=state.db),
        storage=await state.server_settings.storage(),
        backend=state.config.storage.backend,
    )


@router.post("/storage")
async def set_storage(
    request: Request, state: StateDep, console: AdminCsrfDep, enabled: Annotated[Literal["on", "off"], Form()]
) -> Response:
    """Turn storage on or off for the whole server (logged as an audit record)."""
    storage = await state.server_settings.set_storage(enabled=enabled == "on", admin=console.user)
    return render(
        request, "partials/server_storage.html", storage=storage, backend=state.config.storage.backend, saved=True
    )
