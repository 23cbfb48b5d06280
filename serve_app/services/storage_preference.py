"""The user's own settings: whether their images are stored and served by URL."""

from serve_app.config import AppConfig, PlanConfig
from serve_app.db.models import User
from serve_app.db.session import Database
from serve_app.schemas.generate import StorageInfo
from serve_app.schemas.account import SettingsData, SettingsUpdate
from serve_app.services.users import set_storage_enabled


def storage_info(config: AppConfig, *, user: User, plan: PlanConfig) -> StorageInfo:
    """Images are stored only when the server, the plan and the user all allow it."""
    enabled = config.storage.enabled and plan.storage and user.storage_enabled
    return StorageInfo(enabled=enabled, stored=enabled, plan=plan.slug)


async def update_settings(
    *, db: Database, config: AppConfig, user: User, plan: PlanConfig, update: SettingsUpdate
) -> SettingsData:
    await set_storage_enabled(db=db, user_id=user.id, enabled=update.storage_enabled)
    updated = user.model_copy(update={"storage_enabled": update.storage_enabled})
    return SettingsData(
        storage_enabled=update.storage_enabled, storage=storage_info(config, user=updated, plan=plan)
    )


def settings_of(config: AppConfig, *, user: User, plan: PlanConfig) -> SettingsData:
    return SettingsData(storage_enabled=user.storage_enabled, storage=storage_info(config, user=user, plan=plan))
