"""Users and their API keys."""

from datetime import timedelta

from sqlmodel import select

from serve_app.db.models import ApiKey, User, utcnow
from serve_app.db.session import Database
from serve_app.errors import InvalidRequest, Unauthorized
from serve_app.services.keys import LOOKUP_PREFIX_LENGTH, generate_key, key_matches

# Touching last_used_at on every request would turn each read into a write.
_LAST_USED_RESOLUTION = timedelta(minutes=1)


async def create_user(*, db: Database, name: str) -> tuple[User, str]:
    """Creates a user with one API key; returns the user and the key's only plaintext copy."""
    async with db.write() as session:
        existing = await session.exec(select(User).where(User.name == name))
        if existing.first() is not None:
            raise InvalidRequest(field="name", message=f"a user named {name!r} already exists")
        user = User(name=name)
        session.add(user)
        await session.flush()
        key = generate_key()
        session.add(ApiKey(user_id=user.id, prefix=key.prefix, key_hash=key.key_hash))
    return user, key.plaintext


async def authenticate(*, db: Database, plaintext: str) -> User:
    """The user owning this active key; Unauthorized otherwise."""
    async with db.read() as session:
        row = (
            await session.exec(
                select(ApiKey, User)
                .join(User, User.id == ApiKey.user_id)
                .where(ApiKey.prefix == plaintext[:LOOKUP_PREFIX_LENGTH])
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
            stored = await session.get(ApiKey, api_key.id)
            stored.last_used_at = now
    return user
