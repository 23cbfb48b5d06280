"""The one place errors become HTTP responses: `{"success": false, "error": {...}, "request_id"}`,
or, on routes of class `ImageRoute` (the GET-image endpoints), a placeholder image."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve_app.api.middleware import new_request_id
from serve_app.errors import ApiError
from serve_app.services.placeholder import render_placeholder

logger = logging.getLogger("ray.serve")

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}


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
    return JSONResponse(
        status_code=status_code,
        content={"success": False, "error": error, "request_id": _request_id(request)},
        headers=headers,
    )


def _body_model(request: Request) -> type[BaseModel] | None:
    route = request.scope.get("route")
    field = getattr(route, "body_field", None)
    annotation = getattr(getattr(field, "field_info", None), "annotation", None)
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _bounds(model: type[BaseModel] | None, name: str) -> str:
    """`allowed: 1–50` from a field's declared constraints, when it has any."""
    field = model.model_fields.get(name) if model else None
    if field is None:
        return ""
    limits: dict[str, Any] = {}
    for item in field.metadata:
        for attr in ("ge", "gt", "le", "lt", "min_length", "max_length", "multiple_of"):
            if getattr(item, attr, None) is not None:
                limits[attr] = getattr(item, attr)
    parts = []
    if "ge" in limits or "le" in limits:
        parts.append(f"{limits.get('ge', '')}–{limits.get('le', '')}")
    if "min_length" in limits or "max_length" in limits:
        parts.append(f"{limits.get('min_length', 0)}–{limits.get('max_length', '')} characters")
    if "multiple_of" in limits:
        parts.append(f"a multiple of {limits['multiple_of']}")
    return f" (allowed: {', '.join(parts)})" if parts else ""


def describe_validation_error(request: Request, exc: RequestValidationError) -> tuple[str, str]:
    """(field, message) for the first problem, phrased so the client knows what to send."""
    error = exc.errors()[0]
    loc = [str(part) for part in error["loc"] if part not in ("body", "query", "path", "header")]
    field = ".".join(loc) or "body"
    model = _body_model(request)
    if error["type"] == "extra_forbidden":
        allowed = f"; allowed fields: {', '.join(model.model_fields)}" if model else ""
        return field, f"{field}: unknown field{allowed}"
    if error["type"] == "json_invalid":
        return "body", "body: not valid JSON"
    if error["type"] == "missing" and field == "body":
        return "body", "body: a JSON object is required"
    return field, f"{field}: {error['msg']}{_bounds(model, loc[0]) if len(loc) == 1 else ''}"


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
        return error_response(
            request,
            status_code=exc.status_code,
            error={"code": code, "message": str(exc.detail)},
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return error_response(
            request,
            status_code=500,
            error={"code": "internal_error", "message": "internal error; quote the request_id"},
        )
