"""What console routes depend on: the logged-in session, the admin role, and a checked CSRF token."""

import secrets
from typing import Annotated

from fastapi import Depends, Request

from serve_app.api.deps import StateDep
from serve_app.errors import Forbidden
from serve_app.services.sessions import ActiveSession, active_session, tokens_match
from serve_app.web.rendering import LoginRequired

SESSION_COOKIE = "pixelray_session"
# Before log-in there is no session to hold the CSRF token: the log-in and sign-up forms carry
# a copy of this cookie instead (double submit), which another site can neither read nor set.
LOGIN_CSRF_COOKIE = "pixelray_login_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"


async def get_console_session(request: Request, state: StateDep) -> ActiveSession:
    """The logged-in user; LoginRequired (a redirect to /login) otherwise."""
    token = request.cookies.get(SESSION_COOKIE)
    active = await active_session(db=state.db, clock=state.clock, token=token) if token else None
    if active is None:
        raise LoginRequired("log in to use the console")
    if active.user.suspended:
        raise Forbidden("this account is suspended; contact the operator")
    request.state.console = active
    return active


ConsoleSessionDep = Annotated[ActiveSession, Depends(get_console_session)]


async def _submitted_token(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    form = await request.form()
    value = form.get(CSRF_FIELD)
    return value if isinstance(value, str) else None


async def check_csrf(request: Request, console: ConsoleSessionDep) -> ActiveSession:
    """The session, once the request proved it comes from a console page (its CSRF token)."""
    if not tokens_match(console.csrf_token, await _submitted_token(request)):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again")
    return console


async def check_login_csrf(request: Request) -> None:
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE)
    if not cookie or not tokens_match(cookie, await _submitted_token(request)):
        raise Forbidden("the form's security token is missing or stale; reload the page and try again")


def new_login_csrf() -> str:
    return secrets.token_urlsafe(32)


async def require_admin(console: ConsoleSessionDep) -> ActiveSession:
    if not console.is_admin:
        raise Forbidden("this page is for administrators")
    return console


async def check_admin_csrf(
    request: Request, console: Annotated[ActiveSession, Depends(require_admin)]
) -> ActiveSession:
    return await check_csrf(request, console)


CsrfSessionDep = Annotated[ActiveSession, Depends(check_csrf)]
LoginCsrfDep = Annotated[None, Depends(check_login_csrf)]
AdminDep = Annotated[ActiveSession, Depends(require_admin)]
AdminCsrfDep = Annotated[ActiveSession, Depends(check_admin_csrf)]
