"""Dependencies routes declare, as `Annotated` aliases."""

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from serve_app.api.state import AppState
from serve_app.db.models import User
from serve_app.errors import Unauthorized
from serve_app.services.generation import GenerationService
from serve_app.services.keys import parse_authorization
from serve_app.services.users import authenticate

_authorization = APIKeyHeader(
    name="Authorization",
    auto_error=False,
    description="`Bearer KEY` or `Token KEY`.",
)


def get_state(request: Request) -> AppState:
    return request.app.state.pixelray


def get_request_id(request: Request) -> str:
    return request.state.request_id


StateDep = Annotated[AppState, Depends(get_state)]
RequestIdDep = Annotated[str, Depends(get_request_id)]


async def get_current_user(
    state: StateDep, authorization: Annotated[str | None, Depends(_authorization)]
) -> User:
    plaintext = parse_authorization(authorization)
    if plaintext is None:
        raise Unauthorized("send your API key as `Authorization: Bearer KEY`")
    return await authenticate(db=state.db, plaintext=plaintext)


def get_generation(state: StateDep) -> GenerationService:
    return state.generation


CurrentUser = Annotated[User, Depends(get_current_user)]
GenerationDep = Annotated[GenerationService, Depends(get_generation)]
