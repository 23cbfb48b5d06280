"""The `pixelray` command: administration against the configured database."""

import argparse
import asyncio
import os
import sys
from pathlib import Path

from serve_app.config import AppConfig, ConfigError, load_app_config
from serve_app.db.session import Database
from serve_app.errors import ApiError
from serve_app.services.users import create_user
from serve_app.settings import apply_environment

DEFAULT_CONFIG = "configs/local.yaml"


def _config(args: argparse.Namespace) -> AppConfig:
    return apply_environment(load_app_config(args.config))


def _database(args: argparse.Namespace) -> Database:
    """PIXELRAY_DATABASE_URL when set, else the database of the serve config."""
    url = os.environ.get("PIXELRAY_DATABASE_URL")
    if url and not Path(args.config).exists():
        return Database(url)
    return Database(_config(args).database_url)


async def _users_create(args: argparse.Namespace) -> None:
    db = _database(args)
    try:
        await db.create_schema()
        user, key = await create_user(db=db, name=args.name)
    finally:
        await db.dispose()
    print(f"created user {user.name!r} (id {user.id}); its API key, shown only this once:")
    print(key)


async def _models_build(args: argparse.Namespace) -> None:
    from deployments.builtin_models import resolve_source

    config = _config(args)
    for model in config.models:
        location = await asyncio.to_thread(resolve_source, model.source, config.model_cache_dir)
        print(f"{model.slug}: {location}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pixelray", description=__doc__)
    parser.add_argument(
        "--config",
        default=DEFAULT_CONFIG,
        help=f"serve config file holding the pixelray args (default: {DEFAULT_CONFIG})",
    )
    groups = parser.add_subparsers(dest="group", required=True)

    users = groups.add_parser("users", help="manage users").add_subparsers(dest="command", required=True)
    create = users.add_parser("create", help="create a user and print its first API key")
    create.add_argument("--name", required=True)
    create.set_defaults(handler=_users_create)

    models = groups.add_parser("models", help="manage model files").add_subparsers(
        dest="command", required=True
    )
    build = models.add_parser("build", help="build the catalog's built-in models (no download)")
    build.set_defaults(handler=_models_build)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        asyncio.run(args.handler(args))
    except (ConfigError, ApiError, FileNotFoundError) as exc:
        print(f"pixelray: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
