"""The admin pages' queries and actions, on both databases."""

import pytest

from serve_app.db.models import UsageRecord
from serve_app.errors import InvalidRequest
from serve_app.services import accounts, admin, users
from tests.factories import make_config, user_with_key


async def test_users_are_searched_by_name_with_their_roles(db):
    config = make_config()
    for name in ("alice", "Alicia", "bob", "100%_sure"):
        await users.create_user(db=db, config=config, name=name)
    root = await users.find_user(db=db, name_or_id="bob")
    await accounts.set_role(db=db, user_id=root.id, role="admin")

    found = await admin.search_users(db=db, q="ALI", limit=10, offset=0)
    assert [row.user.name for row in found.users] == ["alice", "Alicia"] and found.total == 2
    # LIKE wildcards in the search are taken literally.
    assert [row.user.name for row in (await admin.search_users(db=db, q="%_", limit=10, offset=0)).users] == [
        "100%_sure"
    ]
    everyone = await admin.search_users(db=db, q="", limit=2, offset=0)
    assert everyone.total == 4 and len(everyone.users) == 2
    assert {row.user.name: row.role for row in (await admin.search_users(db=db, q="bob", limit=5, offset=0)).users} == {
        "bob": "admin"
    }


async def test_a_plan_change_names_the_known_plans_when_wrong(db):
    user_id, _ = await user_with_key(db)
    await admin.set_plan(db=db, config=make_config(), user_id=user_id, plan="daily")
    assert (await users.find_user(db=db, name_or_id=str(user_id))).plan == "daily"
    with pytest.raises(InvalidRequest) as error:
        await admin.set_plan(db=db, config=make_config(), user_id=user_id, plan="gold")
    assert "known plans: test" in error.value.message


async def test_pending_generations_are_counted_per_model(db):
    user_id, _ = await user_with_key(db)
    async with db.write() as session:
        for n, (model, status) in enumerate(
            [("tiny-sd", "pending"), ("tiny-sd", "pending"), ("tiny-sd", "succeeded"), ("big-sd", "pending")]
        ):
            session.add(
                UsageRecord(request_id=f"req_{n}", user_id=user_id, model=model, images=1, credits=1, status=status)
            )
    assert await admin.running_by_model(db=db) == {"tiny-sd": 2, "big-sd": 1}
