"""The one place errors become HTTP responses: `{"success": false, "error": {...}, "request_id"}`,
or OpenAI's `{"error": {"message", "type", "param", "code"}}` on the OpenAI-compatible `/v1/` paths,
or, on routes of class `ImageRoute` (the GET-image endpoints), a placeholder image."""

import logging
from typing import Any, get_args

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import InterfaceError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from serve_app.api.middleware import new_request_id
from serve_app.errors import ApiError, ServiceUnavailable
from serve_app.schemas.validation import describe_errors
from serve_app.services.placeholder import render_placeholder

logger = logging.getLogger("ray.serve")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
OPENAI_PREFIX = "/v1/"
_OPENAI_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_OPENAI_CODES = {
    "unauthorized": "invalid_api_key",
    "rate_limited": "rate_limit_exceeded",
    "unknown_model": "model_not_found",
}


def _request_id(request: Request) -> str:
    context = getattr(request.state, "context", None)
    return context.request_id if context else new_request_id()


class ImageRoute(APIRoute):
    """A route that answers only images, errors included, so that an `<img>` always shows
    something: a placeholder stating the error, with `X-Error-Code` and `X-Error-Message`."""


def _header_safe(text: str) -> str:
    printable = "".join(c if " " <= c <= "~" else "?" for c in text)
    return printable[:300]


def placeholder_response(
    *, status_code: int, image_code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=render_placeholder(image_code, message),
        status_code=status_code,
        media_type="image/png",
        headers={
            **(headers or {}),
            "X-Error-Code": image_code,
            "X-Error-Message": _header_safe(message),
            "Cache-Control": "no-store",
        },
    )


def openai_error(status_code: int, error: dict[str, Any]) -> tuple[int, dict[str, Any], dict[str, str]]:
    """(status, body, extra headers) in OpenAI's shape, which the `openai` SDK maps to its errors.

    Out of credits is OpenAI's `429 insufficient_quota`. `x-should-retry: false` keeps the SDK
    from retrying where a retry cannot succeed or would be charged again (a refunded failure).
    """
    code = error.get("code")
    if status_code == 402:
        status_code, kind, code = 429, "insufficient_quota", "insufficient_quota"
    elif status_code >= 500:
        kind = "server_error"
    else:
        kind = _OPENAI_TYPES.get(status_code, "invalid_request_error")
    headers = {}
    if kind == "insufficient_quota" or status_code in (500, 502):
        headers["x-should-retry"] = "false"
    body = {
        "message": error["message"],
        "type": kind,
        "param": error.get("field"),
        "code": _OPENAI_CODES.get(code, code) if code is not None else None,
    }
    return status_code, {"error": body}, headers


def error_response(
    request: Request,
    *,
    status_code: int,
    error: dict[str, Any],
    headers: dict[str, str] | None = None,
    image_code: str = "GENERATION_FAILED",
) -> Response:
    if isinstance(request.scope.get("route"), ImageRoute):
        return placeholder_response(
            status_code=status_code, image_code=image_code, message=error["message"], headers=headers
        )
    if request.url.path.startswith(OPENAI_PREFIX):
        status_code, content, extra = openai_error(status_code, error)
        return JSONResponse(status_code=status_code, content=content, headers={**(headers or {}), **extra})
    return JSONResponse(
        status_code=status_code,
        content={"success": False, "error": error, "request_id": _request_id(request)},
        headers=headers,
    )


def _body_models(request: Request) -> dict[str, type[BaseModel]]:
    """The route's body model(s) by class name; a tagged union body contributes each member."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    pending = [getattr(getattr(field, "field_info", None), "annotation", None)]
    models: dict[str, type[BaseModel]] = {}
    while pending:
        annotation = pending.pop()
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            models[annotation.__name__] = annotation
        else:
            pending.extend(get_args(annotation))
    return models


def describe_validation_error(request: Request, exc: RequestValidationError) -> tuple[str, str]:
    """(field, message) for the first problem, phrased so the client knows what to send."""
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if part not in ("body", "query", "path", "header")]
    models = _body_models(request)
    # A tagged-union body puts the member's tag (its class name) first in the error location.
    model = models.get(loc.pop(0)) if loc and loc[0] in models and len(models) > 1 else None
    model = model or (next(iter(models.values())) if len(models) == 1 else None)
    return describe_errors([{**error, "loc": loc}], model)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path. Starlette's own 405 names only the methods of
    the first route on the path, and FastAPI makes one route per method."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "api_routes", []):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods |= getattr(route, "methods", None) or set()
    return sorted(methods)


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        return error_response(
            request, status_code=exc.status_code, error=exc.body(), headers=exc.headers, image_code=exc.image_code
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        field, message = describe_validation_error(request, exc)
        return error_response(
            request,
            status_code=400,
            error={"code": "invalid_request", "message": message, "field": field},
            image_code="VALIDATION_ERROR",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        headers = dict(getattr(exc, "headers", None) or {})
        message = str(exc.detail)
        if exc.status_code == 405:
            allowed = allowed_methods(request) or headers.get("Allow", "").split(", ")
            headers["Allow"] = ", ".join(allowed)
            message = f"{request.method} is not allowed here; use {', '.join(allowed)}"
        return error_response(
            request, status_code=exc.status_code, error={"code": code, "message": message}, headers=headers
        )

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(request: Request, exc: Exception) -> Response:
        # The database went away mid-request (restart, failover): the client may retry; a request
        # that was charged is settled by the ledger once the database is back.
        logger.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        return await _api_error(
            request, ServiceUnavailable("the database is unavailable; retry shortly", retry_after=5)
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request,
            status_code=500,
            error={"code": "internal_error", "message": "internal error; quote the request_id"},
        )
