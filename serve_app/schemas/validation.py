"""Pydantic validation errors phrased for clients: the field at fault and what it allows.
Used for request bodies (api/errors.py) and for each item of a batch."""

from collections.abc import Mapping, Sequence
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from serve_app.errors import InvalidRequest


def _is_text(annotation: Any) -> bool:
    """str, or str inside Optional/Annotated (not a list of str)."""
    origin = get_origin(annotation)
    if origin is Annotated:
        return _is_text(get_args(annotation)[0])
    if origin in (Union, UnionType):
        return any(_is_text(arg) for arg in get_args(annotation))
    return annotation is str


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
    if "ge" in limits or "le" in limits or "gt" in limits:
        low = limits.get("ge", limits.get("gt", ""))
        parts.append(f"{'>' if 'gt' in limits else ''}{low}–{limits.get('le', '')}")
    if "min_length" in limits or "max_length" in limits:
        unit = "characters" if _is_text(field.annotation) else "items"
        parts.append(f"{limits.get('min_length', 0)}–{limits.get('max_length', '')} {unit}")
    if "multiple_of" in limits:
        parts.append(f"a multiple of {limits['multiple_of']}")
    return f" (allowed: {', '.join(parts)})" if parts else ""


def describe_errors(errors: Sequence[Mapping[str, Any]], model: type[BaseModel] | None) -> tuple[str, str]:
    """(field, message) for the first problem, phrased so the client knows what to send.
    `loc` is relative to `model`'s fields."""
    error = errors[0]
    loc = [str(part) for part in error["loc"]]
    field = ".".join(loc) or "body"
    if error["type"] == "extra_forbidden":
        allowed = f"; allowed fields: {', '.join(model.model_fields)}" if model else ""
        return field, f"{field}: unknown field{allowed}"
    if error["type"] == "json_invalid":
        return "body", "body: not valid JSON"
    if error["type"] == "missing" and field == "body":
        return "body", "body: a JSON object is required"
    message = error["msg"].removeprefix("Value error, ")
    # A validator's own message says what to fix; the field's bounds would only add noise to it.
    bounds = _bounds(model, loc[0]) if len(loc) == 1 and error["type"] != "value_error" else ""
    return field, f"{field}: {message}{bounds}"


def invalid_request(exc: ValidationError, model: type[BaseModel], *, prefix: str = "") -> InvalidRequest:
    """The first problem of `exc` (raised validating `model`) as an InvalidRequest; `prefix`
    places it inside a larger body, e.g. `items.2`."""
    field, message = describe_errors(exc.errors(), model)
    if not prefix:
        return InvalidRequest(field=field, message=message.removeprefix(f"{field}: "))
    return InvalidRequest(field=f"{prefix}.{field}", message=message.removeprefix(f"{field}: "))
