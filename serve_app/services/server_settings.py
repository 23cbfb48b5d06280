"""Server settings an admin changes in the console while the server runs, over the serve config.

One so far: whether the server stores images (`storage.enabled` in the serve config). Every
generation reads it, so each ingress replica keeps it in memory and reads the database again at
most once per `ttl_s`: an admin's change reaches every replica within that time, and a request
never adds a database round trip for it.
"""

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from serve_app.config import AppConfig
from serve_app.db.models import ServerSetting, User
from serve_app.db.session import Database
from serve_app.services.clock import Clock

logger = logging.getLogger("ray.serve")

STORAGE = "storage_enabled"
TTL_S = 5.0


@dataclass(frozen=True)
class ServerStorage:
    """Whether the server stores images, and who decided."""

    enabled: bool
    configured: bool
    """The serve config's `storage.enabled`, which applies until an admin sets the switch."""
    changed_by: str | None = None
    changed_at: datetime | None = None


class ServerSettings:
    def __init__(self, *, db: Database, config: AppConfig, clock: Clock, ttl_s: float = TTL_S):
        self._db = db
        self._configured = config.storage.enabled
        self._clock = clock
        self._ttl = timedelta(seconds=ttl_s)
        self._storage: ServerStorage | None = None
        self._read_at: datetime | None = None
        # Concurrent requests that find the copy stale wait for one read instead of each making one.
        self._reading = asyncio.Lock()

    async def storage(self) -> ServerStorage:
        """The server's storage switch, as of at most `ttl_s` ago."""
        if self._storage is None or not self._fresh():
            async with self._reading:
                if self._storage is None or not self._fresh():
                    self._storage = await self._read_storage()
                    self._read_at = self._clock.now()
        return self._storage

    async def storage_enabled(self) -> bool:
        return (await self.storage()).enabled

    async def set_storage(self, *, enabled: bool, admin: User) -> ServerStorage:
        """Turns storage on or off for the whole server; this replica sees it at once, the others
        within `ttl_s`. Written to the log as an audit record."""
        before = await self.storage()
        now = self._clock.now()
        values = {"name": STORAGE, "value": json.dumps(enabled), "updated_by": admin.name, "updated_at": now}
        async with self._db.write() as session:
            upsert = sqlite_insert if session.get_bind().dialect.name == "sqlite" else postgresql_insert
            statement = upsert(ServerSetting).values(values)
            await session.execute(statement.on_conflict_do_update(index_elements=[ServerSetting.name], set_=values))
        logger.info(
            "audit: admin %r (user %s) turned server storage %s (was %s)",
            admin.name,
            admin.id,
            _word(enabled),
            _word(before.enabled),
        )
        self._storage = ServerStorage(
            enabled=enabled, configured=self._configured, changed_by=admin.name, changed_at=now
        )
        self._read_at = now
        return self._storage

    def _fresh(self) -> bool:
        # Also stale when the clock went backwards: a copy must not look fresh for hours.
        if self._read_at is None:
            return False
        age = self._clock.now() - self._read_at
        return timedelta(0) <= age < self._ttl

    async def _read_storage(self) -> ServerStorage:
        async with self._db.read() as session:
            row = await session.get(ServerSetting, STORAGE)
        if row is None:
            return ServerStorage(enabled=self._configured, configured=self._configured)
        return ServerStorage(
            enabled=json.loads(row.value),
            configured=self._configured,
            changed_by=row.updated_by,
            changed_at=row.updated_at,
        )


def _word(enabled: bool) -> str:
    return "on" if enabled else "off"
