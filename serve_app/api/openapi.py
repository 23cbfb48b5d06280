"""The OpenAPI document as the server behaves: FastAPI documents a 422 for every route with
parameters, but validation errors here are 400s in the error envelope (api/errors.py). A 422 a
route documents itself (a reused Idempotency-Key) stays."""

from typing import Any

from fastapi import FastAPI


def install_openapi(app: FastAPI) -> None:
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        # FastAPI's builder caches this same dict on app.openapi_schema, so editing it edits the cache.
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if _is_fastapi_validation_error(responses.get("422")):
                    del responses["422"]
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI documents replacing app.openapi to change the schema


def _is_fastapi_validation_error(response: dict[str, Any] | None) -> bool:
    schema = (response or {}).get("content", {}).get("application/json", {}).get("schema", {})
    return schema.get("$ref", "").endswith("/HTTPValidationError")
