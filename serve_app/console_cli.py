"""`pixelray users set-password` and `pixelray users role`: console log-ins for CLI-made users,
and the admin role."""

import getpass
import sys

from serve_app.services import accounts, users


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("new password: ")
    if getpass.getpass("again: ") != first:
        raise SystemExit("the two passwords differ; nothing changed")
    return first


async def users_set_password(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    await accounts.set_password(db=db, user_id=user.id, password=_read_password(args.password_stdin))
    print(f"{user.name!r} can now log in to the console")


async def users_role(args, config, db) -> None:
    user = await users.find_user(db=db, name_or_id=args.user)
    assert user.id is not None  # read from the database by find_user
    await accounts.set_role(db=db, user_id=user.id, role=args.role)
    print(f"{user.name!r} now has the {args.role} role")


def add_console_commands(user_cmds, command) -> None:
    set_password = command(user_cmds, "set-password", users_set_password, "set a user's console password")
    set_password.add_argument("user", help="user name or id")
    set_password.add_argument(
        "--password-stdin", action="store_true", help="read the password from the first line of stdin (no prompt)"
    )
    role = command(user_cmds, "role", users_role, "give a user the admin role, or take it back (user)")
    role.add_argument("user", help="user name or id")
    role.add_argument("role", choices=accounts.ROLES)
