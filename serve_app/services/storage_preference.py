"""The user's own settings: whether their images are stored and served by URL."""

from serve_app.config import PlanConfig
from serve_app.db.models import User
from serve_app.db.session import Database
from serve_app.schemas.account import SettingsData, SettingsUpdate
from serve_app.schemas.generate import StorageInfo
from serve_app.services.server_settings import ServerSettings
from serve_app.services.users import set_storage_enabled


def storage_info(*, server: bool, user: User, plan: PlanConfig) -> StorageInfo:
    """Images are stored only when the server (its admin switch, else its config), the plan and
    the user all allow it: a user's preference can turn storage off, never on against the server."""
    enabled = server and plan.storage and user.storage_enabled
    return StorageInfo(enabled=enabled, stored=enabled, plan=plan.slug)


async def update_settings(
    *, db: Database, server: ServerSettings, user: User, plan: PlanConfig, update: SettingsUpdate
) -> SettingsData:
    assert user.id is not None  # the signed-in user, read from the database
    await set_storage_enabled(db=db, user_id=user.id, enabled=update.storage_enabled)
    updated = user.model_copy(update={"storage_enabled": update.storage_enabled})
    return await settings_of(server=server, user=updated, plan=plan)


async def settings_of(*, server: ServerSettings, user: User, plan: PlanConfig) -> SettingsData:
    info = storage_info(server=await server.storage_enabled(), user=user, plan=plan)
    return SettingsData(storage_enabled=user.storage_enabled, storage=info)
