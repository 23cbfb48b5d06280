"""Projects and their referrer origins."""

import pytest

from serve_app.errors import InvalidRequest, ProjectNotFound
from serve_app.services.image_url import origin_of
from serve_app.services.projects import find_project, find_project_and_owner, normalize_origin, rotate_secret
from tests.factories import project_with_owner


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
