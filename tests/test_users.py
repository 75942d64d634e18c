"""Users: create/update with attributes and embedded groups or memberships, get, delete, list filters."""
from mockserver.keys import ENVIRONMENTS


async def test_create_user_returns_the_user_with_unexpanded_relations(api):
    user = await api.ok("POST", "/users", json={"id": "u1", "attributes": {"name": "Evelyn Reichert", "email": "evelyn@example.com"}})
    assert user["id"] == "u1" and user["object"] == "user"
    assert user["attributes"] == {"name": "Evelyn Reichert", "email": "evelyn@example.com"}
    assert user["groups"] is None and user["memberships"] is None
    assert await api.ok("GET", "/users/u1") == user


async def test_update_merges_attributes_and_keeps_created_at(api):
    before = await api.ok("GET", "/users/alice")
    after = await api.ok("POST", "/users", json={"id": "alice", "attributes": {"plan": "enterprise", "nickname": "al"}})
    assert after["created_at"] == before["created_at"]
    assert after["attributes"] == {**before["attributes"], "plan": "enterprise", "nickname": "al"}


async def test_null_unsets_an_attribute(api):
    user = await api.ok("POST", "/users", json={"id": "alice", "attributes": {"plan": None}})
    assert "plan" not in user["attributes"]


async def test_get_unknown_user_is_404_in_userflow_format(api):
    reply = await api.get("/users/nobody")
    assert reply.status == 404
    assert reply.body["error"]["code"] == "not_found"
    assert "nobody" in reply.body["error"]["message"]
    assert reply.body["error"]["doc_url"] == "https://userflow.com/docs/api"


async def test_id_is_required_and_named(api):
    reply = await api.post("/users", json={"attributes": {"a": 1}})
    assert reply.status == 400
    assert reply.body["error"]["message"] == "Invalid request body: id: is required (rule: required)"


async def test_wrong_type_names_field_and_rule(api):
    reply = await api.post("/users", json={"id": 5})
    assert reply.status == 400
    assert "id: 5 is not of type 'string' (rule: type)" in reply.body["error"]["message"]


async def test_embedded_groups_create_groups_and_memberships(api):
    user = await api.ok("POST", "/users", params={"expand": "memberships.group"}, json={
        "id": "u2", "groups": [{"id": "newco", "attributes": {"name": "NewCo", "billing_plan": "plus"}}, {"id": "acme"}]})
    groups = {m["group"]["id"]: m for m in user["memberships"]}
    assert set(groups) == {"newco", "acme"}
    assert groups["newco"]["group"]["attributes"] == {"name": "NewCo", "billing_plan": "plus"}
    assert groups["newco"]["user_id"] == "u2" and groups["newco"]["attributes"] == {}
    assert (await api.ok("GET", "/groups/acme"))["attributes"]["name"] == "Acme Inc."


async def test_embedded_memberships_carry_membership_attributes(api):
    user = await api.ok("POST", "/users", params={"expand[]": "memberships"}, json={
        "id": "bob", "memberships": [{"attributes": {"role": "admin"}, "group": {"id": "acme"}}]})
    assert [(m["group_id"], m["attributes"]) for m in user["memberships"]] == [("acme", {"role": "admin"})]
    # the membership is updated in place, not duplicated
    group = await api.ok("GET", "/groups/acme", params={"expand": "memberships"})
    assert sorted(m["user_id"] for m in group["memberships"]) == ["alice", "bob"]


async def test_groups_and_memberships_together_are_rejected(api):
    reply = await api.post("/users", json={"id": "x", "groups": [{"id": "acme"}], "memberships": [{"group": {"id": "acme"}}]})
    assert reply.status == 400
    assert "only one of groups and memberships can be set (rule: not)" in reply.body["error"]["message"]
    assert (await api.get("/users/x")).status == 404


async def test_membership_needs_an_embedded_group_with_id(api):
    reply = await api.post("/users", json={"id": "x", "memberships": [{"attributes": {"role": "admin"}}]})
    assert reply.status == 400
    assert "memberships[0].group: is required" in reply.body["error"]["message"]
    reply = await api.post("/users", json={"id": "x", "memberships": [{"group": {"name": "no id"}}]})
    assert "memberships[0].group.id: is required" in reply.body["error"]["message"]


async def test_prune_memberships_removes_unlisted_memberships_only(api):
    user = await api.ok("POST", "/users", params={"expand": "groups"},
                        json={"id": "alice", "groups": [{"id": "initech"}], "prune_memberships": True})
    assert [g["id"] for g in user["groups"]] == ["initech"]
    assert (await api.get("/groups/acme")).status == 200  # the group itself stays


async def test_without_prune_existing_memberships_stay(api):
    user = await api.ok("POST", "/users", params={"expand": "groups"}, json={"id": "alice", "groups": [{"id": "initech"}]})
    assert sorted(g["id"] for g in user["groups"]) == ["acme", "globex", "initech"]


async def test_prune_without_a_list_is_rejected(api):
    reply = await api.post("/users", json={"id": "alice", "prune_memberships": True})
    assert reply.status == 400 and reply.body["error"]["message"].startswith("prune_memberships:")


async def test_delete_user_removes_memberships_and_events_and_is_idempotent(api):
    store = api.client.app[ENVIRONMENTS].get(api.key).userflow
    assert any(e["user_id"] == "alice" for e in store.events.values())
    deleted = await api.ok("DELETE", "/users/alice")
    assert deleted == {"id": "alice", "object": "user", "deleted": True}
    assert (await api.get("/users/alice")).status == 404
    acme = await api.ok("GET", "/groups/acme", params={"expand": "memberships"})
    assert [m["user_id"] for m in acme["memberships"]] == ["bob"]
    assert not any(e["user_id"] == "alice" for e in store.events.values())
    assert await api.ok("DELETE", "/users/alice") == deleted


async def test_failed_update_changes_nothing(api):
    before = await api.ok("GET", "/users/alice", params={"expand": "memberships"})
    reply = await api.post("/users", json={"id": "alice", "attributes": {"plan": "x"},
                                           "groups": [{"id": "acme", "attributes": {"employee_count": "many"}}]})
    assert reply.status == 400
    assert "groups[0].attributes.employee_count: 'many' cannot be stored as data type number" in reply.body["error"]["message"]
    assert await api.ok("GET", "/users/alice", params={"expand": "memberships"}) == before


async def test_list_filters_by_email(api):
    page = await api.ok("GET", "/users", params={"email": "bob@example.com"})
    assert [u["id"] for u in page["data"]] == ["bob"]
    assert page["url"] == "/users?email=bob%40example.com"


async def test_list_filters_by_group_id(api):
    page = await api.ok("GET", "/users", params={"group_id": "globex"})
    assert [u["id"] for u in page["data"]] == ["alice", "carol"]
    assert (await api.ok("GET", "/users", params={"group_id": "nope"}))["data"] == []


async def test_list_filters_by_segment(api):
    page = await api.ok("GET", "/users", params={"segment_id": "seg_pro"})
    assert [u["id"] for u in page["data"]] == ["alice"]
    reply = await api.get("/users", params={"segment_id": "seg_big"})  # a group segment
    assert reply.status == 400 and "segment_id" in reply.body["error"]["message"]


async def test_list_combines_filters(api):
    page = await api.ok("GET", "/users", params={"group_id": "acme", "email": "bob@example.com"})
    assert [u["id"] for u in page["data"]] == ["bob"]


async def test_a_user_posted_back_as_get_returned_it_is_accepted(api):
    """Generated clients and read-modify-write send every field, `"groups": null` and `"memberships": null` included:
    an explicit null for an optional field means "not given" (not "both lists were set")."""
    user = await api.ok("GET", "/users/alice")
    assert user["groups"] is None and user["memberships"] is None
    again = await api.ok("POST", "/users", json={**user, "attributes": {**user["attributes"], "plan": "enterprise"}})
    assert again["attributes"]["plan"] == "enterprise"
    expanded = await api.ok("GET", "/users/alice", params={"expand": "memberships"})
    assert len(expanded["memberships"]) == 2  # nothing pruned, nothing added
    body = {"id": "nulls", "attributes": None, "groups": None, "prune_memberships": None,
            "memberships": [{"group": {"id": "acme", "attributes": None}, "attributes": None}]}
    created = await api.ok("POST", "/users", json=body, params={"expand": "memberships"})
    assert created["attributes"] == {} and [m["group_id"] for m in created["memberships"]] == ["acme"]
    unset = await api.ok("POST", "/users", json={"id": "alice", "attributes": {"plan": None}})
    assert "plan" not in unset["attributes"]  # inside attributes, null still unsets
