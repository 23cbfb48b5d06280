"""Users and their API keys.

Authentication keeps each key's user in memory for `KEY_CACHE_TTL_S` per process (per ingress
replica), so a burst of requests on one key makes one database read a second, not one each. A
change to a user or key (revocation, suspension, plan, storage preference) made through this
module clears this process's cache at once; one made in another process (another replica, the
CLI) is seen within `KEY_CACHE_TTL_S`. Credits are never judged on the cached row: admission's
conditional debit reads the balance inside its transaction.
"""

import weakref
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from sqlalchemy import update
from sqlmodel import col, select

from serve_app.config import AppConfig
from serve_app.db.models import ApiKey, CreditEntry, User, utcnow
from serve_app.db.session import Database
from serve_app.errors import InvalidRequest, NotFound, Unauthorized
from serve_app.services.keys import LOOKUP_PREFIX_LENGTH, generate_key, hash_key, key_matches
from serve_app.services.recent import Recent

# Touching last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)
KEY_CACHE_TTL_S = 1.0

_key_users: "weakref.WeakKeyDictionary[Database, Recent[str, User]]" = weakref.WeakKeyDictionary()


def key_cache(db: Database) -> Recent[str, User]:
    """This process's recently authenticated keys for `db`: each key's user, by the key's hash."""
    cache = _key_users.get(db)
    if cache is None:
        cache = _key_users[db] = Recent(reuse_s=KEY_CACHE_TTL_S)
    return cache


@dataclass(frozen=True)
class NewUser:
    user: User
    key: str
    """The key's only plaintext copy: show it once, store it nowhere."""


async def create_user(*, db: Database, config: AppConfig, name: str, plan: str | None = None) -> NewUser:
    """Creates a user on `plan` (the default plan if None) with its plan's initial credits and one key."""
    plan_slug = plan or config.default_plan_slug
    plan_config = config.plan(plan_slug)
    if plan_config is None:
        known = ", ".join(p.slug for p in config.plans)
        raise InvalidRequest(field="plan", message=f"unknown plan {plan_slug!r}; known plans: {known}")
    async with db.write() as session:
        if (await session.exec(select(User.id).where(col(User.name) == name))).first() is not None:
            raise InvalidRequest(field="name", message=f"a user named {name!r} already exists")
        user = User(name=name, plan=plan_slug, balance=plan_config.initial_credits)
        session.add(user)
        await session.flush()
        assert user.id is not None  # flushed: the database assigned it
        if plan_config.initial_credits:
            session.add(
                CreditEntry(
                    user_id=user.id, kind="grant", amount=plan_config.initial_credits, note=f"{plan_slug} plan start"
                )
            )
        key = generate_key()
        session.add(ApiKey(user_id=user.id, prefix=key.prefix, key_hash=key.key_hash))
    return NewUser(user=user, key=key.plaintext)


async def find_user(*, db: Database, name_or_id: str) -> User:
    async with db.read() as session:
        query = select(User).where(col(User.name) == name_or_id)
        if name_or_id.isdigit():
            query = select(User).where((col(User.name) == name_or_id) | (col(User.id) == int(name_or_id)))
        user = (await session.exec(query)).first()
    if user is None:
        raise NotFound(f"no user named {name_or_id!r}")
    return user


async def list_users(*, db: Database) -> list[User]:
    async with db.read() as session:
        return list(await session.exec(select(User).order_by(col(User.id))))


async def set_suspended(*, db: Database, user_id: int, suspended: bool) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == user_id).values(suspended=suspended))
    key_cache(db).clear()


async def set_storage_enabled(*, db: Database, user_id: int, enabled: bool) -> None:
    async with db.write() as session:
        await session.execute(update(User).where(col(User.id) == user_id).values(storage_enabled=enabled))
    key_cache(db).clear()


async def create_key(*, db: Database, user_id: int) -> str:
    """A new key for the user; returns its only plaintext copy."""
    key = generate_key()
    async with db.write() as session:
        session.add(ApiKey(user_id=user_id, prefix=key.prefix, key_hash=key.key_hash))
    return key.plaintext


async def list_keys(*, db: Database, user_id: int) -> list[ApiKey]:
    async with db.read() as session:
        return list(await session.exec(select(ApiKey).where(col(ApiKey.user_id) == user_id).order_by(col(ApiKey.id))))


async def revoke_key(*, db: Database, prefix: str) -> ApiKey:
    """Marks the key revoked (the row stays, for the audit trail); it fails auth from now on."""
    async with db.write() as session:
        key = (await session.exec(select(ApiKey).where(col(ApiKey.prefix) == prefix[:LOOKUP_PREFIX_LENGTH]))).first()
        if key is None:
            raise NotFound(f"no API key with prefix {prefix!r}")
        if key.revoked_at is None:
            key.revoked_at = utcnow()
            session.add(key)
    key_cache(db).clear()
    return key


async def authenticate(*, db: Database, plaintext: str) -> User:
    """The user owning this active key (as of at most `KEY_CACHE_TTL_S` ago); Unauthorized otherwise."""
    return await key_cache(db).get(hash_key(plaintext), partial(_authenticate, db=db, plaintext=plaintext))


async def _authenticate(*, db: Database, plaintext: str) -> User:
    async with db.read() as session:
        row = (
            await session.exec(
                select(ApiKey, User)
                .join(User, col(User.id) == ApiKey.user_id)
                .where(col(ApiKey.prefix) == plaintext[:LOOKUP_PREFIX_LENGTH])
            )
        ).first()
    if row is None:
        raise Unauthorized()
    api_key, user = row
    if not key_matches(plaintext, api_key.key_hash):
        raise Unauthorized()
    if api_key.revoked_at is not None:
        raise Unauthorized("this API key has been revoked")
    now = utcnow()
    if api_key.last_used_at is None or now - api_key.last_used_at > _LAST_USED_RESOLUTION:
        async with db.write() as session:
            await session.execute(update(ApiKey).where(col(ApiKey.id) == api_key.id).values(last_used_at=now))
    return user
