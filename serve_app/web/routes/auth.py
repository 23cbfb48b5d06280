"""Sign-up, log-in, log-out and password change."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from serve_app.api.deps import StateDep
from serve_app.errors import ApiError
from serve_app.services import accounts, sessions
from serve_app.web.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    ConsoleSessionDep,
    CsrfSessionDep,
    LoginCsrfDep,
    new_login_csrf,
)
from serve_app.web.rendering import ConsoleRoute, render

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


def _secure(state) -> bool:
    return state.config.public_base_url.startswith("https://")


def _local_path(target: str | None) -> str:
    """Only a path on this server: never `//other.host` or `https://...`, which would make the
    log-in form an open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


def _form_page(request: Request, state, template: str, *, status_code: int = 200, **context) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(
        request, template, status_code=status_code, csrf_token=token, signup=state.config.console.signup, **context
    )
    response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(state), path="/")
    return response


async def _with_session(response: Response, state, user_id: int) -> Response:
    """`response` carrying the cookie of a new session for the user."""
    opened = await sessions.open_session(
        db=state.db, clock=state.clock, user_id=user_id, ttl=timedelta(hours=state.config.console.session_hours)
    )
    response.set_cookie(
        SESSION_COOKIE,
        opened.token,
        max_age=int(state.config.console.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=_secure(state),
        path="/",
    )
    return response


@router.get("/login")
async def login_page(request: Request, state: StateDep, next: str = "/") -> Response:
    """The log-in form."""
    return _form_page(request, state, "login.html", next=_local_path(next))


@router.post("/login")
async def login(
    request: Request,
    state: StateDep,
    _: LoginCsrfDep,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Log in: a session cookie and a redirect to `next`, or the form again with the reason."""
    address = request.client.host if request.client else "unknown"
    try:
        user = await accounts.log_in(
            db=state.db, config=state.config, clock=state.clock, name=name, password=password, address=address
        )
    except ApiError as exc:
        response = _form_page(
            request, state, "login.html", status_code=exc.status_code, error=exc.message, name=name, next=next
        )
        response.headers.update({k: v for k, v in exc.headers.items() if k == "Retry-After"})
        return response
    assert user.id is not None  # read from the database by log_in
    return await _with_session(RedirectResponse(_local_path(next), status_code=303), state, user.id)


@router.get("/signup")
async def signup_page(request: Request, state: StateDep) -> Response:
    """The sign-up form."""
    return _form_page(request, state, "signup.html")


@router.post("/signup")
async def signup(
    request: Request,
    state: StateDep,
    _: LoginCsrfDep,
    name: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
) -> Response:
    """Create an account and log it in; its first API key is shown on this page only."""
    try:
        created = await accounts.sign_up(db=state.db, config=state.config, name=name, password=password)
    except ApiError as exc:
        return _form_page(request, state, "signup.html", status_code=exc.status_code, error=exc.message, name=name)
    assert created.user.id is not None  # create_user flushed the row, so the database gave it an id
    # The first key is shown on this page only, as the CLI prints it once.
    return await _with_session(
        render(request, "welcome.html", user=created.user, key=created.key), state, created.user.id
    )


@router.post("/logout")
async def logout(request: Request, state: StateDep, console: CsrfSessionDep) -> Response:
    """End this session."""
    await sessions.close_session(db=state.db, token=request.cookies[SESSION_COOKIE])
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=_secure(state))
    return response


@router.get("/account")
async def account_page(request: Request, console: ConsoleSessionDep) -> Response:
    """The user's account and the password form."""
    return render(request, "account.html")


@router.post("/account/password")
async def change_password(
    request: Request,
    state: StateDep,
    console: CsrfSessionDep,
    current_password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
    new_password: Annotated[str, Form(max_length=accounts.MAX_PASSWORD)],
) -> Response:
    """Change the password and log out the user's other sessions."""
    assert console.user.id is not None  # the signed-in user, read from the database
    await accounts.change_password(db=state.db, user=console.user, current=current_password, new=new_password)
    await sessions.close_other_sessions(
        db=state.db, user_id=console.user.id, keep_token=request.cookies[SESSION_COOKIE]
    )
    return render(request, "account.html", message="Password changed; your other sessions were logged out.")
