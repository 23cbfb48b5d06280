"""API keys: create (shown once), list by prefix, revoke."""

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serve_app.api.deps import StateDep
from serve_app.errors import NotFound
from serve_app.services import users
from serve_app.web.deps import ConsoleSessionDep, CsrfSessionDep
from serve_app.web.rendering import ConsoleRoute, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/keys")
async def keys_page(request: Request, state: StateDep, console: ConsoleSessionDep) -> Response:
    """The user's API keys, by prefix."""
    assert console.user.id is not None  # the signed-in user, read from the database
    keys = await users.list_keys(db=state.db, user_id=console.user.id)
    return render(request, "keys.html", keys=keys)


@router.post("/keys")
async def create_key(request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """A new key, shown in the answer and never again."""
    assert console.user.id is not None  # the signed-in user, read from the database
    plaintext = await users.create_key(db=state.db, user_id=console.user.id)
    keys = await users.list_keys(db=state.db, user_id=console.user.id)
    return render(request, "partials/keys.html", keys=keys, new_key=plaintext)


@router.post("/keys/{prefix}/revoke")
async def revoke_key(prefix: str, request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """Revoke one of the user's keys."""
    assert console.user.id is not None  # the signed-in user, read from the database
    owned = {key.prefix for key in await users.list_keys(db=state.db, user_id=console.user.id)}
    # Another user's key is indistinguishable from a missing one.
    if prefix not in owned:
        raise NotFound(f"no API key with prefix {prefix!r}")
    await users.revoke_key(db=state.db, prefix=prefix)
    keys = await users.list_keys(db=state.db, user_id=console.user.id)
    return render(request, "partials/keys.html", keys=keys)
