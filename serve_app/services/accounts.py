"""Console accounts: passwords (Argon2id), roles, sign-up and log-in with per-minute failure limits.

The failure limits count rows in the shared database, so they hold across ingress replicas.
"""

import asyncio
import re
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, text
from sqlmodel import col, select

from serve_app.config import AppConfig
from serve_app.db.models import Account, LoginFailure, User, utcnow
from serve_app.db.session import Database
from serve_app.errors import Forbidden, InvalidRequest, RateLimited, Unauthorized
from serve_app.services.clock import Clock
from serve_app.services.users import NewUser, create_user

ROLES = ("user", "admin")
MIN_PASSWORD = 8
MAX_PASSWORD = 256
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,39}$")
_WINDOW = timedelta(seconds=60)
_hasher = PasswordHasher()
# Checked when the account is unknown or has no password, so that answering takes as long as for
# a real account and the timing does not tell which names exist.
_DUMMY_HASH = _hasher.hash("pixelray-no-such-account")


class BadCredentials(Unauthorized):
    def __init__(self):
        super().__init__("wrong user name or password")


def check_password(password: str) -> None:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidRequest(field="password", message=f"use {MIN_PASSWORD}–{MAX_PASSWORD} characters")


async def hash_password(password: str) -> str:
    check_password(password)
    # Argon2 is deliberately slow: off the event loop.
    return await asyncio.to_thread(_hasher.hash, password)


async def _verify(password_hash: str | None, password: str) -> bool:
    try:
        return await asyncio.to_thread(_hasher.verify, password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


async def account_of(*, db: Database, user_id: int) -> Account:
    """The user's account row; a user the CLI made has none until now, and gets the `user` role."""
    async with db.read() as session:
        account = await session.get(Account, user_id)
    return account or Account(user_id=user_id)


async def set_password(*, db: Database, user_id: int, password: str) -> None:
    password_hash = await hash_password(password)
    async with db.write() as session:
        account = await session.get(Account, user_id) or Account(user_id=user_id)
        account.password_hash = password_hash
        account.updated_at = utcnow()
        session.add(account)


async def set_role(*, db: Database, user_id: int, role: str) -> None:
    if role not in ROLES:
        raise InvalidRequest(field="role", message=f"unknown role {role!r}; use one of: {', '.join(ROLES)}")
    async with db.write() as session:
        account = await session.get(Account, user_id) or Account(user_id=user_id)
        account.role = role
        account.updated_at = utcnow()
        session.add(account)


async def sign_up(*, db: Database, config: AppConfig, name: str, password: str) -> NewUser:
    """A new user on the default plan (with its starting credits and a first API key) who can log in."""
    if not config.console.signup:
        raise Forbidden("sign-up is closed on this server; ask its operator for an account")
    if not _NAME.match(name):
        raise InvalidRequest(
            field="name", message="use 3–40 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    password_hash = await hash_password(password)
    created = await create_user(db=db, config=config, name=name)
    async with db.write() as session:
        assert created.user.id is not None  # create_user flushed the row, so the database gave it an id
        session.add(Account(user_id=created.user.id, password_hash=password_hash))
    return created


async def log_in(*, db: Database, config: AppConfig, clock: Clock, name: str, password: str, address: str) -> User:
    """The user, when the password is right and neither the account nor the address has used up
    its bad passwords of the last minute; RateLimited, BadCredentials or Forbidden otherwise."""
    now = clock.now()
    account_key = name.strip().lower()[:200]
    address = address[:64]
    attempt_id = await _reserve_attempt(db, config, now=now, account=account_key, address=address)
    async with db.read() as session:
        row = (
            await session.exec(
                select(User, Account)
                .join(Account, col(Account.user_id) == User.id, isouter=True)
                .where(col(User.name) == name.strip())
            )
        ).first()
    user, account = row if row is not None else (None, None)
    if not await _verify(account.password_hash if account else None, password):
        raise BadCredentials()
    # Right password: the attempt was no failure after all.
    async with db.write() as session:
        await session.execute(delete(LoginFailure).where(col(LoginFailure.id) == attempt_id))
    assert user is not None  # the password verified, so the name matched a row above
    if user.suspended:
        raise Forbidden("this account is suspended; contact the operator")
    return user


async def _reserve_attempt(db: Database, config: AppConfig, *, now, account: str, address: str) -> int:
    """Counts the last minute's failures and, when both limits allow one more attempt, records this
    one as a failure up front, in one transaction: concurrent guesses cannot all slip under the
    limit. RateLimited otherwise. Returns the recorded row, to delete if the password is right."""
    async with db.write() as session:
        await session.execute(delete(LoginFailure).where(col(LoginFailure.at) < now - _WINDOW))
    async with db.write() as session:
        if not db.is_sqlite:
            # SQLite's BEGIN IMMEDIATE already serializes writers; PostgreSQL needs a lock per key,
            # taken in one order (account, then address) so that two attempts cannot deadlock.
            for key in (f"login-account:{account}", f"login-address:{address}"):
                await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        since = col(LoginFailure.at) >= now - _WINDOW
        for column, value, limit in (
            (LoginFailure.account, account, config.console.login_failures_per_account),
            (LoginFailure.address, address, config.console.login_failures_per_address),
        ):
            count, oldest = (
                await session.exec(select(func.count(), func.min(LoginFailure.at)).where(column == value, since))
            ).one()
            if count >= limit:
                retry_after = int((oldest + _WINDOW - now).total_seconds()) + 1
                raise RateLimited(
                    f"too many wrong passwords in the last minute; try again in {retry_after} s",
                    retry_after=retry_after,
                )
        attempt = LoginFailure(account=account, address=address, at=now)
        session.add(attempt)
        await session.flush()
        assert attempt.id is not None  # flushed: the database assigned it
        return attempt.id


async def change_password(*, db: Database, user: User, current: str, new: str) -> None:
    assert user.id is not None  # the signed-in user, read from the database
    account = await account_of(db=db, user_id=user.id)
    if not await _verify(account.password_hash, current):
        raise InvalidRequest(field="current_password", message="this is not your current password")
    await set_password(db=db, user_id=user.id, password=new)
