"""The `pixelray` command: administration against the configured database.

New API keys are printed once, alone on the last line of stdout, and stored only as hashes.
"""

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable

from serve_app.config import AppConfig, ConfigError, load_app_config
from serve_app.config_reference import render_reference
from serve_app.console_cli import add_console_commands
from serve_app.db.migrations import upgrade_database
from serve_app.db.session import Database
from serve_app.environment import apply_environment
from serve_app.errors import ApiError
from serve_app.project_cli import add_project_commands
from serve_app.services import credits, users

DEFAULT_CONFIG = "configs/local.yaml"
Handler = Callable[[argparse.Namespace, AppConfig, Database], Awaitable[None]]


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else "-"


async def users_create(args, config, db) -> None:
    created = await users.create_user(db=db, config=config, name=args.name, plan=args.plan)
    print(
        f"created user {created.user.name!r} (id {created.user.id}, plan {created.user.plan}, "
        f"{created.user.balance} credits); its API key, shown only this once:"
    )
    print(created.key)


async def users_list(args, config, db) -> None:
    print(f"{'id':>5}  {'name':<24} {'plan':<12} {'balance':>10}  {'storage':<8} status")
    for user in await users.list_users(db=db):
        status = "suspended" if user.suspended else "active"
        storage = "on" if user.storage_enabled else "off"
        print(f"{user.id:>5}  {user.name:<24} {user.plan:<12} {user.balance:>10}  {storage:<8} {status}")


async def users_suspend(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    await users.set_suspended(db=db, user_id=user.id, suspended=not args.undo)
    print(f"user {user.name!r} is now {'active' if args.undo else 'suspended'}")


async def users_storage(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    await users.set_storage_enabled(db=db, user_id=user.id, enabled=args.state == "on")
    print(f"storage for {user.name!r} is now {args.state}")


async def keys_create(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    key = await users.create_key(db=db, user_id=user.id)
    print(f"new API key for {user.name!r}, shown only this once:")
    print(key)


async def keys_list(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    print(f"{'prefix':<18} {'created':<20} {'last used':<20} revoked")
    for key in await users.list_keys(db=db, user_id=user.id):
        print(f"{key.prefix:<18} {_when(key.created_at):<20} {_when(key.last_used_at):<20} {_when(key.revoked_at)}")


async def keys_revoke(args, config, db) -> None:
    key = await users.revoke_key(db=db, prefix=args.prefix)
    print(f"revoked key {key.prefix} at {_when(key.revoked_at)}")


async def credits_grant(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    balance = await credits.grant(db=db, user_id=user.id, amount=args.amount, note=args.note)
    print(f"granted {args.amount} credits to {user.name!r}; balance {balance}")


async def credits_history(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    print(f"{'when':<20} {'kind':<7} {'amount':>8}  request / note")
    for entry in await credits.history(db=db, user_id=user.id, limit=args.limit):
        print(f"{_when(entry.created_at):<20} {entry.kind:<7} {entry.amount:>+8}  {entry.request_id or entry.note}")
    print(f"balance {user.balance}")


async def db_upgrade(args, config, db) -> None:
    await upgrade_database(db, args.revision)
    print(f"database at revision {args.revision}")


async def models_build(args, config, db) -> None:
    from deployments.builtin_models import resolve_source

    for model in config.models:
        print(f"{model.slug}: {await asyncio.to_thread(resolve_source, model.source, config.model_cache_dir)}")
        for adapter in model.adapters:
            path = await asyncio.to_thread(resolve_source, adapter.source, config.model_cache_dir)
            print(f"{model.slug} adapter {adapter.slug}: {path}")
    # Built whatever the backend, so switching the enhancer to `llm` needs no extra step.
    enhancer = await asyncio.to_thread(resolve_source, config.enhancer.source, config.model_cache_dir)
    print(f"prompt enhancer: {enhancer}")


def config_reference() -> None:
    sys.stdout.write(render_reference())


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelray", description=__doc__)
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"serve config holding the pixelray args (default: {DEFAULT_CONFIG}); "
        "PIXELRAY_DATABASE_URL overrides its database",
    )
    groups = parser.add_subparsers(dest="group", required=True)

    def command(group, name: str, handler: Handler, help: str):
        sub = group.add_parser(name, help=help)
        sub.set_defaults(handler=handler)
        return sub

    user_cmds = groups.add_parser("users", help="manage users").add_subparsers(dest="command", required=True)
    create = command(user_cmds, "create", users_create, "create a user and print its first API key")
    create.add_argument("--name", required=True)
    create.add_argument("--plan", help="plan slug (default: the config's default plan)")
    command(user_cmds, "list", users_list, "list users")
    suspend = command(user_cmds, "suspend", users_suspend, "suspend a user (403 on every request)")
    suspend.add_argument("user", help="user name or id")
    suspend.add_argument("--undo", action="store_true", help="lift the suspension")
    storage = command(user_cmds, "storage", users_storage, "store a user's images (on) or return data URLs (off)")
    storage.add_argument("user", help="user name or id")
    storage.add_argument("state", choices=["on", "off"])
    add_console_commands(user_cmds, command)

    key_cmds = groups.add_parser("keys", help="manage API keys").add_subparsers(dest="command", required=True)
    command(key_cmds, "create", keys_create, "create a key and print it once").add_argument("user")
    command(key_cmds, "list", keys_list, "list a user's keys (prefixes only)").add_argument("user")
    command(key_cmds, "revoke", keys_revoke, "revoke a key by its prefix").add_argument("prefix")

    credit_cmds = groups.add_parser("credits", help="manage credits").add_subparsers(dest="command", required=True)
    grant = command(credit_cmds, "grant", credits_grant, "add credits to a user")
    grant.add_argument("user")
    grant.add_argument("amount", type=int)
    grant.add_argument("--note", default="granted by operator")
    history = command(credit_cmds, "history", credits_history, "show a user's ledger, newest first")
    history.add_argument("user")
    history.add_argument("--limit", type=int, default=50)

    db_cmds = groups.add_parser("db", help="manage the database").add_subparsers(dest="command", required=True)
    command(db_cmds, "upgrade", db_upgrade, "apply schema migrations").add_argument(
        "revision", nargs="?", default="head"
    )

    model_cmds = groups.add_parser("models", help="manage model files").add_subparsers(dest="command", required=True)
    command(model_cmds, "build", models_build, "build the catalog's built-in models (no download)")

    config_cmds = groups.add_parser("config", help="the serve config").add_subparsers(dest="command", required=True)
    reference = config_cmds.add_parser("reference", help="print every config key in Markdown (docs/configuration.md)")
    reference.set_defaults(standalone=config_reference)

    add_project_commands(groups, command)
    return parser


async def _run(args: argparse.Namespace) -> None:
    config = apply_environment(load_app_config(args.config))
    db = Database(config.database_url)
    try:
        if config.migrate_on_start and args.handler not in (db_upgrade, models_build):
            await upgrade_database(db)
        await args.handler(args, config, db)
    finally:
        await db.dispose()


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if "standalone" in args:
        # Describes the config models themselves: reads no config file and opens no database.
        args.standalone()
        return 0
    try:
        asyncio.run(_run(args))
    except (ConfigError, ApiError, FileNotFoundError) as exc:
        print(f"pixelray: {getattr(exc, 'message', exc)}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
