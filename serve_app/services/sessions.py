"""Console sessions: a random token in an HttpOnly cookie, its hash in the database with the
session's CSRF token, so every replica recognises it and a stolen table cannot be replayed."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import col, select

from serve_app.db.models import Account, ConsoleSession, User
from serve_app.db.session import Database
from serve_app.services.clock import Clock


@dataclass(frozen=True)
class OpenedSession:
    token: str
    """The cookie value: its only plaintext copy."""
    csrf_token: str


@dataclass(frozen=True)
class ActiveSession:
    user: User
    role: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(*, db: Database, clock: Clock, user_id: int, ttl: timedelta) -> OpenedSession:
    now = clock.now()
    opened = OpenedSession(token=secrets.token_urlsafe(32), csrf_token=secrets.token_urlsafe(32))
    async with db.write() as session:
        await session.execute(delete(ConsoleSession).where(col(ConsoleSession.expires_at) < now))
        session.add(
            ConsoleSession(
                token_hash=_digest(opened.token),
                user_id=user_id,
                csrf_token=opened.csrf_token,
                created_at=now,
                expires_at=now + ttl,
            )
        )
    return opened


async def active_session(*, db: Database, clock: Clock, token: str) -> ActiveSession | None:
    """The session behind a cookie, if it exists and has not expired."""
    async with db.read() as session:
        row = (
            await session.exec(
                select(ConsoleSession, User, Account.role)
                .join(User, col(User.id) == ConsoleSession.user_id)
                .join(Account, col(Account.user_id) == User.id, isouter=True)
                .where(col(ConsoleSession.token_hash) == _digest(token), col(ConsoleSession.expires_at) > clock.now())
            )
        ).first()
    if row is None:
        return None
    console_session, user, role = row
    return ActiveSession(user=user, role=role or "user", csrf_token=console_session.csrf_token)


async def close_session(*, db: Database, token: str) -> None:
    async with db.write() as session:
        await session.execute(delete(ConsoleSession).where(col(ConsoleSession.token_hash) == _digest(token)))


async def close_other_sessions(*, db: Database, user_id: int, keep_token: str) -> None:
    """Logs the user out everywhere else (after a password change)."""
    async with db.write() as session:
        await session.execute(
            delete(ConsoleSession).where(
                col(ConsoleSession.user_id) == user_id, col(ConsoleSession.token_hash) != _digest(keep_token)
            )
        )


def tokens_match(expected: str, given: str | None) -> bool:
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), given.encode())
