"""The application's configuration: the `args` of the serve config, validated before anything starts.

Split by concern; import from here, so a section may move between modules without touching callers."""

from serve_app.config.app import AppConfig
from serve_app.config.common import Slug, StrictModel
from serve_app.config.jobs import HeroConfig, WebhookConfig
from serve_app.config.loading import APP_IMPORT_PATH, ConfigError, load_app_config, parse_app_config
from serve_app.config.models import AdapterConfig, EnhancerConfig, ModelConfig
from serve_app.config.plans import PlanConfig
from serve_app.config.server import BodyLimitsConfig, ConsoleConfig, CorsConfig, LedgerConfig
from serve_app.config.storage import S3Config, StorageConfig

__all__ = [
    "APP_IMPORT_PATH",
    "AdapterConfig",
    "AppConfig",
    "BodyLimitsConfig",
    "ConfigError",
    "ConsoleConfig",
    "CorsConfig",
    "EnhancerConfig",
    "HeroConfig",
    "LedgerConfig",
    "ModelConfig",
    "PlanConfig",
    "S3Config",
    "Slug",
    "StorageConfig",
    "StrictModel",
    "WebhookConfig",
    "load_app_config",
    "parse_app_config",
]
