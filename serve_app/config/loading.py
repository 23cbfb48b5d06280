"""Reading a serve config: validation errors that name each bad key and how to fix it."""

from pathlib import Path
from typing import Any, TypeGuard

import yaml
from pydantic import BaseModel, ValidationError

from serve_app.config.app import AppConfig

APP_IMPORT_PATH = "serve_app.app:build_app"


class ConfigError(ValueError):
    """A serve config the application cannot start with; the message lists every problem."""


def _is_model(value: object) -> TypeGuard[type[BaseModel]]:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _fields_at(model: type[BaseModel], loc: tuple) -> list[str]:
    """The keys allowed at `loc` inside `model`, following nested models and lists."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if _is_model(current) else None
        if field is None:
            return []
        annotation = field.annotation
        for arg in getattr(annotation, "__args__", ()) or (annotation,):
            if isinstance(arg, type) and issubclass(arg, BaseModel):
                current = arg
                break
        else:
            return []
    return list(current.model_fields) if _is_model(current) else []


def parse_app_config(args: dict[str, Any]) -> AppConfig:
    """Validates serve config `args`, raising ConfigError that names each bad key and the fix."""
    try:
        return AppConfig.model_validate(args)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            key = ".".join(str(part) for part in error["loc"]) or "args"
            if error["type"] == "extra_forbidden":
                allowed = ", ".join(_fields_at(AppConfig, error["loc"][:-1]))
                lines.append(f"  {key}: unknown key; allowed keys here: {allowed}")
            else:
                lines.append(f"  {key}: {error['msg'].removeprefix('Value error, ')}")
        raise ConfigError("invalid pixelray config:\n" + "\n".join(lines)) from None


def load_app_config(path: str | Path) -> AppConfig:
    """Reads and validates the pixelray application's `args` from a serve config file."""
    document = yaml.safe_load(Path(path).read_text())
    for application in (document or {}).get("applications", []):
        if application.get("import_path") == APP_IMPORT_PATH:
            return parse_app_config(application.get("args") or {})
    raise ConfigError(f"{path} has no application with import_path {APP_IMPORT_PATH}")
