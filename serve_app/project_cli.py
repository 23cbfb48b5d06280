"""`pixelray projects ...`: GET-image projects, their secrets and signed URLs."""

import time

from serve_app.services import projects, signing, users


async def projects_create(args, config, db) -> None:
    owner = await users.find_user(db=db, name_or_id=args.user)
    project = await projects.create_project(
        db=db, slug=args.slug, user=owner, origins=args.origin, require_signature=args.require_signature
    )
    url = f"{config.public_base_url}/p/{project.slug}/image?prompt=..."
    print(f"created project {project.slug!r} for {owner.name!r}: {url}")
    print(
        f"signed URLs required: {'yes' if project.require_signature else 'no'}; "
        f"allowed origins: {' '.join(project.origins) or 'any'}"
    )
    print("signing secret:")
    print(project.secret)


async def projects_list(args, config, db) -> None:
    print(f"{'slug':<24} {'owner':<20} {'signed':<7} origins")
    for project, owner in await projects.list_projects(db=db):
        signed = "yes" if project.require_signature else "no"
        print(f"{project.slug:<24} {owner.name:<20} {signed:<7} {' '.join(project.origins) or 'any'}")


async def projects_rotate_secret(args, config, db) -> None:
    secret = await projects.rotate_secret(db=db, slug=args.slug)
    print(f"new signing secret for {args.slug!r}; URLs signed with the old one no longer work:")
    print(secret)


async def projects_sign(args, config, db) -> None:
    project = await projects.find_project(db=db, slug=args.slug)
    expires_at = int(time.time()) + args.expires_in if args.expires_in else None
    query = signing.signed_query(project.secret, args.query, expires_at=expires_at)
    print(f"{config.public_base_url}/p/{project.slug}/image?{query}")


def add_project_commands(groups, command) -> None:
    """Adds the `projects` group to the CLI's parser; `command` is the CLI's sub-command maker."""
    project_cmds = groups.add_parser("projects", help="manage GET-image projects").add_subparsers(
        dest="command", required=True
    )
    create = command(project_cmds, "create", projects_create, "create a project and print its signing secret")
    create.add_argument("slug", help="the project's name in URLs: /p/SLUG/image")
    create.add_argument("--user", required=True, help="owner (name or id): billed, with the owner's limits")
    create.add_argument("--origin", action="append", default=[], help="allowed page origin (repeatable)")
    create.add_argument("--require-signature", action="store_true", help="accept only signed URLs")
    command(project_cmds, "list", projects_list, "list projects")
    command(project_cmds, "rotate-secret", projects_rotate_secret, "replace a project's signing secret").add_argument(
        "slug"
    )
    sign = command(project_cmds, "sign", projects_sign, "print a signed image URL")
    sign.add_argument("slug")
    sign.add_argument("query", help='the query to sign, e.g. "prompt=A sunset&seed=3"')
    sign.add_argument("--expires-in", type=int, metavar="SECONDS", help="add `exp`: valid for this long")
