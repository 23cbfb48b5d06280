"""The configuration reference (docs/configuration.md), written from the config models' fields so
that it says exactly what the server accepts: each key's path, type and bounds, default and
`Field` description."""

import inspect
import json
from collections.abc import Container
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from serve_app.config import AppConfig

REGENERATE = ".venv/bin/pixelray config reference > docs/configuration.md"

_BOUNDS = {
    annotated_types.Ge: ("ge", "≥ {}"),
    annotated_types.Gt: ("gt", "> {}"),
    annotated_types.Le: ("le", "≤ {}"),
    annotated_types.Lt: ("lt", "< {}"),
    annotated_types.MinLen: ("min_length", "length ≥ {}"),
    annotated_types.MaxLen: ("max_length", "length ≤ {}"),
}


@dataclass(frozen=True)
class Row:
    """One key of the reference, its cells as Markdown."""

    path: str
    type: str
    default: str
    description: str


def reference_rows(model: type[BaseModel], *, prefix: str = "") -> list[Row]:
    """A row per field of `model` and of every model nested in it, depth first, in declaration
    order. A list of models adds its entries' keys as `path[].key`.

    Raises ValueError naming a field that has no description (and whose type is not a model with
    a docstring): the reference must never leave a key unexplained.
    """
    rows = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        nested, is_list = _nested_model(field.annotation)
        rows.append(Row(path, _type_cell(field), _default_cell(field), _description(path, field, nested)))
        if nested is not None:
            rows.extend(reference_rows(nested, prefix=f"{path}[]." if is_list else f"{path}."))
    return rows


def render_reference(model: type[BaseModel] = AppConfig) -> str:
    """docs/configuration.md: the top-level keys, then a section per key that holds a model."""
    rows = reference_rows(model)
    held = {name: _nested_model(field.annotation)[0] for name, field in model.model_fields.items()}
    sections = {name: nested for name, nested in held.items() if nested is not None}
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from serve_app.config.AppConfig; do not edit. -->",
        "",
        "The `args` of the pixelray application in a serve config (`configs/local.yaml`,",
        "`configs/production.yaml`), key by key, as the config models declare them. A test fails when",
        f"this file is out of date; regenerate it with `{REGENERATE}`.",
        "How the config is read, what the environment overrides, and examples: [operations.md](operations.md).",
        "",
        "`models[].slug` is the key `slug` of each entry of the `models` list. A mapping's default `{}`",
        "means that each of its keys takes its own default; a `required` key has none.",
        "",
        "## Top level",
        "",
        *_table([row for row in rows if row.path in model.model_fields], links=sections),
    ]
    for name, nested in sections.items():
        under = [row for row in rows if row.path.startswith((f"{name}.", f"{name}[]."))]
        lines += ["", f"## {name}", "", _docstring(nested), "", *_table(under)]
    return "\n".join(lines) + "\n"


def _table(rows: list[Row], *, links: Container[str] = ()) -> list[str]:
    """A Markdown table; a key in `links` links to its own section."""
    lines = ["| key | type | default | description |", "|---|---|---|---|"]
    for row in rows:
        key = f"[`{row.path}`](#{row.path})" if row.path in links else f"`{row.path}`"
        cells = (key, row.type, row.default, row.description)
        lines.append("| " + " | ".join(cell.replace("|", "\\|").replace("\n", " ") for cell in cells) + " |")
    return lines


def _nested_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (alone, optional or in a list), and whether it is a list of them."""
    for arg in _without_none(annotation):
        if get_origin(arg) is list:
            inner, _ = _nested_model(get_args(arg)[0])
            return inner, inner is not None
        if get_origin(arg) is None and inspect.isclass(arg) and issubclass(arg, BaseModel):
            return arg, False
    return None, False


def _without_none(annotation: Any) -> list[Any]:
    if get_origin(annotation) in (Union, UnionType):
        return [arg for arg in get_args(annotation) if arg is not NoneType]
    return [annotation]


def _type_name(annotation: Any) -> str:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _type_name(args[0])
    if origin in (Union, UnionType):
        return " | ".join(_type_name(arg) for arg in args)
    if origin is Literal:
        return " | ".join(json.dumps(arg) for arg in args)
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    if annotation is NoneType:
        return "null"
    return annotation.__name__


def _type_cell(field: FieldInfo) -> str:
    bounds = [
        template.format(getattr(meta, attribute))
        for meta in field.metadata
        for kind, (attribute, template) in _BOUNDS.items()
        if isinstance(meta, kind)
    ]
    return ", ".join([f"`{_type_name(field.annotation)}`", *bounds])


def _default_cell(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    return f"`{_plain_text(_plain(field.get_default(call_default_factory=True)))}`"


def _plain(value: Any) -> Any:
    """The default as it would be written in YAML: a model by the keys it sets differently."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_defaults=True)
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _plain_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        flow = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, allow_unicode=True, width=10_000)
        return flow.strip()
    return json.dumps(value, ensure_ascii=False)


def _description(path: str, field: FieldInfo, nested: type[BaseModel] | None) -> str:
    if field.description:
        return field.description
    if nested is not None and nested.__doc__:
        return _docstring(nested)
    raise ValueError(f"config key {path} has no description; give it Field(description=...)")


def _docstring(model: type[BaseModel]) -> str:
    return " ".join(inspect.cleandoc(model.__doc__ or "").split())
