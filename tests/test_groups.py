"""Groups, memberships and definitions."""


async def test_create_update_get_group(api):
    group = await api.ok("POST", "/groups", json={"id": "g1", "attributes": {"name": "Acme", "billing_plan": "plus"}})
    assert group["memberships"] is None and group["users"] is None
    again = await api.ok("POST", "/groups", json={"id": "g1", "attributes": {"billing_plan": {"set": "pro"}, "seats": {"add": 3}}})
    assert again["attributes"] == {"name": "Acme", "billing_plan": "pro", "seats": 3}
    assert again["created_at"] == group["created_at"]
    assert await api.ok("GET", "/groups/g1") == again


async def test_group_errors(api):
    assert (await api.get("/groups/none")).status == 404
    reply = await api.post("/groups", json={"id": "g", "attributes": "nope"})
    assert reply.status == 400 and "attributes: 'nope' is not of type 'object' (rule: type)" in reply.body["error"]["message"]


async def test_delete_group_is_idempotent_and_leaves_users(api):
    assert await api.ok("DELETE", "/groups/acme") == {"id": "acme", "object": "group", "deleted": True}
    assert await api.ok("DELETE", "/groups/acme") == {"id": "acme", "object": "group", "deleted": True}
    bob = await api.ok("GET", "/users/bob", params={"expand": "groups"})
    assert bob["groups"] == []


async def test_list_groups_filters(api):
    assert [g["id"] for g in (await api.ok("GET", "/groups"))["data"]] == ["acme", "globex", "initech"]
    assert [g["id"] for g in (await api.ok("GET", "/groups", params={"user_id": "alice"}))["data"]] == ["acme", "globex"]
    assert [g["id"] for g in (await api.ok("GET", "/groups", params={"segment_id": "seg_big"}))["data"]] == ["globex"]
    page = await api.ok("GET", "/groups", params={"order_by": "-attributes.name"})
    assert [g["id"] for g in page["data"]] == ["initech", "globex", "acme"]
    await api.ok("POST", "/groups", json={"id": "mailco", "attributes": {"email": "team@mail.co"}})
    assert [g["id"] for g in (await api.ok("GET", "/groups", params={"email": "team@mail.co"}))["data"]] == ["mailco"]


async def test_remove_user_from_group(api):
    membership = (await api.ok("GET", "/users/bob", params={"expand": "memberships"}))["memberships"][0]
    deleted = await api.ok("DELETE", "/group_memberships", params={"user_id": "bob", "group_id": "acme"})
    assert deleted == {"id": membership["id"], "object": "group_membership", "deleted": True}
    assert (await api.ok("GET", "/users/bob", params={"expand": "memberships"}))["memberships"] == []
    assert (await api.get("/groups/acme")).status == 200 and (await api.get("/users/bob")).status == 200
    # "Returns an object with a `deleted` key on success (or if the user already wasn't a member of the group - this call is
    # idempotent)": with a string id for typed clients, the same every time
    again = await api.ok("DELETE", "/group_memberships", params={"user_id": "bob", "group_id": "acme"})
    assert again["deleted"] is True and again["object"] == "group_membership" and isinstance(again["id"], str)
    assert await api.ok("DELETE", "/group_memberships", params={"user_id": "bob", "group_id": "acme"}) == again
    never = await api.ok("DELETE", "/group_memberships", params={"user_id": "carol", "group_id": "initech"})
    assert never["id"] not in (again["id"], membership["id"])


async def test_remove_membership_needs_both_ids(api):
    reply = await api.delete("/group_memberships", params={"user_id": "bob"})
    assert reply.status == 400 and reply.body["error"]["message"] == "group_id: is required"


async def test_attribute_definitions_appear_with_inferred_type_and_scope(api):
    await api.ok("POST", "/users", json={"id": "u", "attributes": {"trial_ends_at": "2024-05-01T00:00:00Z", "score": 1.5,
                                                                 "vip": True, "langs": {"append": "en"}},
                                          "memberships": [{"group": {"id": "acme"}, "attributes": {"seat": "A1"}}]})
    defs = {(d["scope"], d["name"]): d for d in (await api.ok("GET", "/attribute_definitions", params={"limit": "100"}))["data"]}
    assert defs[("user", "trial_ends_at")]["data_type"] == "datetime"
    assert defs[("user", "score")]["data_type"] == "number"
    assert defs[("user", "vip")]["data_type"] == "boolean"
    assert defs[("user", "langs")]["data_type"] == "list"
    assert defs[("user", "name")]["data_type"] == "string"
    assert defs[("group_membership", "seat")]["display_name"] == "Seat"
    assert defs[("user", "trial_ends_at")]["display_name"] == "Trial Ends At"
    assert defs[("event", "plan_price")]["data_type"] == "number"


async def test_attribute_definition_filters_and_order(api):
    page = await api.ok("GET", "/attribute_definitions", params={"scope": "group", "limit": "100"})
    assert [d["name"] for d in page["data"]] == ["employee_count", "name", "plan"]  # by display_name
    page = await api.ok("GET", "/attribute_definitions", params=[("event_name[]", "project_created"), ("limit", "100")])
    assert [d["name"] for d in page["data"]] == ["template"]
    page = await api.ok("GET", "/attribute_definitions", params=[("event_name[]", "project_created"),
                                                                 ("event_name[]", "subscription_activated"), ("order_by", "-name")])
    assert [d["name"] for d in page["data"]] == ["template", "plan_price", "plan_name"]
    reply = await api.get("/attribute_definitions", params={"scope": "account"})
    assert reply.status == 400 and reply.body["error"]["message"].startswith("scope: must be one of")


async def test_event_definitions_appear_as_events_are_tracked(api):
    names = lambda page: [d["name"] for d in page["data"]]  # noqa: E731
    assert names(await api.ok("GET", "/event_definitions")) == ["project_created", "subscription_activated"]
    await api.ok("POST", "/events", json={"user_id": "bob", "name": "Apple picked"})
    page = await api.ok("GET", "/event_definitions", params={"order_by": "display_name"})
    assert names(page) == ["Apple picked", "project_created", "subscription_activated"]
    assert page["data"][0]["display_name"] == "Apple Picked"
    assert names(await api.ok("GET", "/event_definitions", params={"order_by": "-created_at", "limit": "1"})) == ["Apple picked"]
