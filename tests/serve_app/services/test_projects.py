"""Projects and their referrer origins."""

import asyncio
from datetime import UTC, datetime

import pytest

from serve_app.errors import InvalidRequest, ProjectNotFound
from serve_app.services.image_url import origin_of
from serve_app.services.projects import (
    RecentProjects,
    find_project,
    find_project_and_owner,
    normalize_origin,
    rotate_secret,
)
from serve_app.services.users import set_suspended
from tests.factories import ManualClock, project_with_owner


@pytest.mark.parametrize(
    ("header", "origin"),
    [
        ("https://Shop.Example/blog/post?x=1", "https://shop.example"),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://shop.example:99999/", None),
        ("android-app://com.example/", None),
        ("", None),
        (None, None),
    ],
)
def test_the_origin_of_a_referer(header, origin):
    assert origin_of(header) == origin


def test_configured_origins_must_be_origins():
    assert normalize_origin("https://Shop.Example/") == "https://shop.example"
    for bad in ("shop.example", "https://shop.example/path", "ftp://shop.example", "https://shop.example:x"):
        with pytest.raises(InvalidRequest, match="is not an origin"):
            normalize_origin(bad)


async def test_rotating_a_secret_replaces_it_and_unknown_projects_are_not_found(db):
    project = await project_with_owner(db, origins=("https://a.example", "https://b.example/"))
    assert project.origins == ["https://a.example", "https://b.example"]
    new = await rotate_secret(db=db, slug=project.slug)
    assert new != project.secret and (await find_project(db=db, slug=project.slug)).secret == new
    with pytest.raises(ProjectNotFound):
        await rotate_secret(db=db, slug="missing")


async def test_a_project_and_its_owner_come_back_in_one_read(db):
    project = await project_with_owner(db)
    found, owner = await find_project_and_owner(db=db, slug=project.slug)
    assert (found.id, owner.id) == (project.id, project.user_id)
    with pytest.raises(ProjectNotFound):
        await find_project_and_owner(db=db, slug="no-such-project")


async def test_a_replica_reuses_a_project_read_for_reuse_s_then_sees_changes(db):
    project = await project_with_owner(db)
    clock = ManualClock(datetime(2026, 11, 27, 12, tzinfo=UTC))
    recent = RecentProjects(db=db, clock=clock, reuse_s=1)
    _, owner = await recent.find(project.slug)
    assert not owner.suspended

    await set_suspended(db=db, user_id=owner.id, suspended=True)
    await rotate_secret(db=db, slug=project.slug)
    clock.advance(seconds=1)
    reused, reused_owner = await recent.find(project.slug)
    assert (reused.secret, reused_owner.suspended) == (project.secret, False)

    clock.advance(milliseconds=1)
    fresh, fresh_owner = await recent.find(project.slug)
    assert fresh.secret != project.secret and fresh_owner.suspended


async def test_with_no_reuse_every_find_reads_the_database(db):
    project = await project_with_owner(db)
    recent = RecentProjects(db=db, clock=ManualClock(datetime(2026, 11, 27, tzinfo=UTC)), reuse_s=0)
    await recent.find(project.slug)
    await rotate_secret(db=db, slug=project.slug)
    assert (await recent.find(project.slug))[0].secret != project.secret
    with pytest.raises(ProjectNotFound):
        await recent.find("missing")


async def test_finds_that_arrive_together_share_one_read(db):
    project = await project_with_owner(db)
    recent = RecentProjects(db=db, clock=ManualClock(datetime(2026, 11, 27, tzinfo=UTC)), reuse_s=1)

    found = await asyncio.gather(*(recent.find(project.slug) for _ in range(10)))

    assert len({id(project) for project, _ in found}) == 1
    with pytest.raises(ProjectNotFound):
        await asyncio.gather(*(recent.find("missing") for _ in range(3)))
