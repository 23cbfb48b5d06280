"""Projects: the namespaces of GET-image URLs, each owned (and paid for) by one user."""

import re
import secrets
from collections.abc import Sequence
from functools import partial
from urllib.parse import urlsplit

from sqlalchemy import update
from sqlmodel import col, select

from serve_app.db.models import Project, User
from serve_app.db.session import Database, rows_affected
from serve_app.errors import InvalidRequest, NotFound, ProjectNotFound
from serve_app.services.clock import Clock
from serve_app.services.recent import Recent

# A project slug is also a DNS label (`{slug}.BASE_DOMAIN`).
_PROJECT_SLUG = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def normalize_origin(origin: str) -> str:
    """`https://Example.com/` -> `https://example.com`; InvalidRequest for anything but an origin."""
    problem = InvalidRequest(field="origin", message=f"{origin!r} is not an origin; use e.g. https://example.com")
    try:
        parts = urlsplit(origin.strip())
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        raise problem from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/") or parts.query:
        raise problem
    return f"{parts.scheme}://{parts.hostname.lower()}{port}"


async def create_project(
    *, db: Database, slug: str, user: User, origins: Sequence[str] = (), require_signature: bool = False
) -> Project:
    if not _PROJECT_SLUG.match(slug):
        raise InvalidRequest(
            field="slug", message="use 1–63 lowercase letters, digits and '-', not starting or ending with '-'"
        )
    assert user.id is not None  # the signed-in user, read from the database
    project = Project(
        slug=slug,
        user_id=user.id,
        allowed_origins=" ".join(normalize_origin(origin) for origin in origins),
        require_signature=require_signature,
        secret=new_secret(),
    )
    async with db.write() as session:
        if (await session.exec(select(Project.id).where(col(Project.slug) == slug))).first() is not None:
            raise InvalidRequest(field="slug", message=f"a project named {slug!r} already exists")
        session.add(project)
    return project


async def find_project(*, db: Database, slug: str) -> Project:
    """The project; ProjectNotFound otherwise."""
    # A name no project can have never reaches the database (PostgreSQL refuses NUL in text).
    if not _PROJECT_SLUG.match(slug):
        raise ProjectNotFound(slug)
    async with db.read() as session:
        project = (await session.exec(select(Project).where(col(Project.slug) == slug))).first()
    if project is None:
        raise ProjectNotFound(slug)
    return project


async def find_project_and_owner(*, db: Database, slug: str) -> tuple[Project, User]:
    """The project and its owner in one read (every GET-image request, cache hits included, needs
    both); ProjectNotFound otherwise."""
    async with db.read() as session:
        row = (
            await session.exec(
                select(Project, User).outerjoin(User, col(User.id) == Project.user_id).where(col(Project.slug) == slug)
            )
        ).first()
    if row is None:
        raise ProjectNotFound(slug)
    project, owner = row
    if owner is None:
        raise NotFound(f"the owner of project {project.slug!r} no longer exists")
    return project, owner


class RecentProjects:
    """`find_project_and_owner` answered from this replica's read of the slug while it is at most
    `reuse_s` old (services/recent.py): a cache hit needs the project and owner for its checks
    (signature, referrer, suspension), and the read would be most of a hit's work."""

    def __init__(self, *, db: Database, clock: Clock, reuse_s: float):
        self._db = db
        self._recent: Recent[str, tuple[Project, User]] = Recent(reuse_s=reuse_s, clock=clock)

    async def find(self, slug: str) -> tuple[Project, User]:
        return await self._recent.get(slug, partial(find_project_and_owner, db=self._db, slug=slug))


async def list_projects(*, db: Database) -> list[tuple[Project, User]]:
    async with db.read() as session:
        rows = await session.exec(
            select(Project, User).join(User, col(User.id) == Project.user_id).order_by(col(Project.id))
        )
        return list(rows)


async def rotate_secret(*, db: Database, slug: str) -> str:
    """A new signing secret for the project; URLs signed with the old one stop working as soon as
    the ingress replicas read the project again (`project_reuse_s`)."""
    secret = new_secret()
    async with db.write() as session:
        moved = await session.execute(update(Project).where(col(Project.slug) == slug).values(secret=secret))
    if rows_affected(moved) != 1:
        raise ProjectNotFound(slug)
    return secret


async def projects_of(*, db: Database, user: User) -> list[Project]:
    async with db.read() as session:
        return list(
            await session.exec(select(Project).where(col(Project.user_id) == user.id).order_by(col(Project.id)))
        )


async def own_project(*, db: Database, user: User, slug: str) -> Project:
    """The user's project; another user's is indistinguishable from a missing one."""
    project = await find_project(db=db, slug=slug)
    if project.user_id != user.id:
        raise ProjectNotFound(slug)
    return project


async def update_project(*, db: Database, project: Project, origins: Sequence[str], require_signature: bool) -> Project:
    allowed = " ".join(normalize_origin(origin) for origin in origins)
    async with db.write() as session:
        await session.execute(
            update(Project)
            .where(col(Project.id) == project.id)
            .values(allowed_origins=allowed, require_signature=require_signature)
        )
    return project.model_copy(update={"allowed_origins": allowed, "require_signature": require_signature})
