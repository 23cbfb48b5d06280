"""Environment overrides and path resolution, applied once where the application is built."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from serve_app.config import AppConfig


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PIXELRAY_", protected_namespaces=())

    database_url: str | None = Field(default=None, description="Overrides `database_url`.")
    public_base_url: str | None = Field(default=None, description="Overrides `public_base_url`.")
    model_cache_dir: str | None = Field(default=None, description="Overrides `model_cache_dir`.")
    s3_access_key: str | None = Field(default=None, description="Overrides `storage.s3.access_key`.")
    s3_secret_key: str | None = Field(default=None, description="Overrides `storage.s3.secret_key`.")


def _absolute_sqlite_url(url: str) -> str:
    for prefix in ("sqlite:///", "sqlite+aiosqlite:///"):
        if url.startswith(prefix) and url != prefix + ":memory:":
            return prefix + str(Path(url.removeprefix(prefix)).expanduser().absolute())
    return url


def apply_environment(config: AppConfig, settings: Settings | None = None) -> AppConfig:
    """`config` with every PIXELRAY_* variable that is set taking precedence, and relative paths
    made absolute: replicas and the CLI must agree on one database file and one store directory,
    whatever their working directory."""
    values = config.model_dump()
    overrides = (settings or Settings()).model_dump(exclude_none=True)
    s3_secrets = {
        name: overrides.pop(f"s3_{name}") for name in ("access_key", "secret_key") if f"s3_{name}" in overrides
    }
    if s3_secrets and values["storage"]["s3"] is not None:
        values["storage"]["s3"].update(s3_secrets)
    values.update(overrides)
    values["database_url"] = _absolute_sqlite_url(values["database_url"])
    values["storage"]["local_dir"] = str(Path(values["storage"]["local_dir"]).expanduser().absolute())
    if values["model_cache_dir"]:
        values["model_cache_dir"] = str(Path(values["model_cache_dir"]).expanduser().absolute())
    return AppConfig.model_validate(values)
