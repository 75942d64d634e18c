"""expand: every relation of every object, nested up to 4 levels, as `expand` and `expand[]`."""
import pytest


async def test_user_memberships_group(api):
    user = await api.ok("GET", "/users/alice", params={"expand": "memberships.group"})
    assert user["groups"] is None
    first = user["memberships"][0]
    assert first["object"] == "group_membership" and first["user"] is None
    assert first["group"]["id"] == first["group_id"] and first["group"]["memberships"] is None


@pytest.mark.parametrize("path, kind, field", [
    ("/users/alice", "user", "groups"), ("/users/alice", "user", "memberships"),
    ("/groups/acme", "group", "users"), ("/groups/acme", "group", "memberships"),
])
async def test_every_has_many_relation_expands(api, path, kind, field):
    obj = await api.ok("GET", path, params={"expand": field})
    assert obj[field] and all(isinstance(item, dict) for item in obj[field])
    plain = await api.ok("GET", path)
    assert plain[field] is None


async def test_four_levels_deep(api):
    user = await api.ok("GET", "/users/bob", params={"expand": "memberships.group.memberships.user"})
    members = user["memberships"][0]["group"]["memberships"]
    assert sorted(m["user"]["id"] for m in members) == ["alice", "bob"]
    assert members[0]["user"]["memberships"] is None


async def test_five_levels_is_400(api):
    reply = await api.get("/users/bob", params={"expand": "memberships.group.memberships.user.groups"})
    assert reply.status == 400 and "more than 4 levels" in reply.body["error"]["message"]


async def test_unknown_path_is_400_and_lists_what_expands(api):
    reply = await api.get("/users/bob", params={"expand": "memberships.owner"})
    assert reply.status == 400
    assert reply.body["error"]["message"] == (
        "expand: cannot expand 'memberships.owner': memberships has no expandable field 'owner' (expandable: group, user)")


async def test_several_paths_merge(api):
    group = await api.ok("GET", "/groups/acme", params=[("expand[]", "users"), ("expand[]", "memberships.user")])
    assert [u["id"] for u in group["users"]] == [m["user"]["id"] for m in group["memberships"]]


async def test_expand_on_list_create_and_update(api):
    page = await api.ok("GET", "/groups", params={"expand": "users"})
    assert {g["id"]: len(g["users"]) for g in page["data"]} == {"acme": 2, "globex": 2, "initech": 0}
    created = await api.ok("POST", "/groups", params={"expand": "memberships"}, json={"id": "g9"})
    assert created["memberships"] == []
    updated = await api.ok("POST", "/users", params={"expand": "groups"}, json={"id": "dave", "attributes": {"x": 1}})
    assert updated["groups"] == []


async def test_expanding_never_changes_stored_objects(api):
    await api.ok("GET", "/users/alice", params={"expand": "memberships.group"})
    assert (await api.ok("GET", "/users/alice"))["memberships"] is None
