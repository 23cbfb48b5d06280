"""The one place errors become HTTP responses: `{"success": false, "error": {...}, "request_id"}`."""

import logging
from typing import Annotated, Any, get_args, get_origin

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Tag
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.api.middleware import new_request_id
from serve_app.errors import ApiError
from serve_app.schemas.validation import describe_errors

logger = logging.getLogger("ray.serve")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


def _request_id(request: Request) -> str:
    context = getattr(request.state, "context", None)
    return context.request_id if context else new_request_id()


def error_response(
    request: Request, *, status_code: int, error: dict[str, Any], headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(
        status_code=status_code,
        content={"success": False, "error": error, "request_id": _request_id(request)},
        headers=headers,
    )


def _body_models(request: Request) -> dict[str, type[BaseModel]]:
    """The route's body model, or each model of a tagged union by its tag ("" for a plain model)."""
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return {"": annotation}
    models = {}
    for member in get_args(get_args(annotation)[0] if get_origin(annotation) is Annotated else annotation):
        tags = [meta.tag for meta in getattr(member, "__metadata__", ()) if isinstance(meta, Tag)]
        if tags:
            models[tags[0]] = get_args(member)[0]
    return models


def describe_validation_error(request: Request, exc: RequestValidationError) -> tuple[str, str]:
    """(field, message) for the first problem, phrased so the client knows what to send."""
    error = exc.errors()[0]
    loc = [part for part in error["loc"] if part not in ("body", "query", "path", "header")]
    models = _body_models(request)
    # A tagged union puts the tag first in `loc`; the client never sent it.
    tag = loc[0] if loc and isinstance(loc[0], str) and loc[0] in models else ""
    if tag:
        loc = loc[1:]
    return describe_errors([{**error, "loc": loc}], models.get(tag))


def register_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(request, status_code=exc.status_code, error=exc.body(), headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        field, message = describe_validation_error(request, exc)
        return error_response(
            request,
            status_code=400,
            error={"code": "invalid_request", "message": message, "field": field},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(
            request,
            status_code=exc.status_code,
            error={"code": code, "message": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request,
            status_code=500,
            error={"code": "internal_error", "message": "internal error; quote the request_id"},
        )
