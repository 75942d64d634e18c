"""POST /events, event naming, and the objects events create."""
from mockserver.keys import ENVIRONMENTS


async def test_track_event_returns_the_event(api):
    event = await api.ok("POST", "/events", json={"user_id": "alice", "name": "subscription_activated",
                                                  "attributes": {"plan_name": "plus", "plan_price": 199}})
    assert event["object"] == "event" and event["name"] == "subscription_activated"
    assert event["user_id"] == "alice" and event["group_id"] is None
    assert event["attributes"] == {"plan_name": "plus", "plan_price": 199}
    assert event["time"] == event["created_at"]
    assert event["id"].isdigit()


async def test_time_is_kept_and_normalised_to_utc(api):
    event = await api.ok("POST", "/events", json={"group_id": "acme", "name": "imported", "time": "2022-11-29T13:34:56+01:00"})
    assert event["time"] == "2022-11-29T12:34:56.000+00:00"
    assert event["created_at"] != event["time"]


async def test_event_ids_increase(api):
    first = await api.ok("POST", "/events", json={"user_id": "alice", "name": "a"})
    second = await api.ok("POST", "/events", json={"user_id": "alice", "name": "a"})
    assert int(second["id"]) == int(first["id"]) + 1


async def test_expand_user_and_group(api):
    event = await api.ok("POST", "/events", params={"expand[]": ["user", "group"]},
                         json={"user_id": "bob", "group_id": "acme", "name": "invite_sent"})
    assert event["user"]["id"] == "bob" and event["group"]["id"] == "acme"


async def test_user_or_group_is_required(api):
    reply = await api.post("/events", json={"name": "x"})
    assert reply.status == 400
    assert "body: one (or both) of user_id and group_id is required (rule: anyOf)" in reply.body["error"]["message"]


async def test_name_is_required_and_follows_naming_rules(api):
    assert "name: is required" in (await api.post("/events", json={"user_id": "alice"})).body["error"]["message"]
    reply = await api.post("/events", json={"user_id": "alice", "name": "flow.started"})
    assert reply.status == 400
    assert "name: may only contain a-z, A-Z, 0-9, underscores, dashes and spaces (got 'flow.started') (rule: pattern)" in reply.body["error"]["message"]


async def test_bad_time_is_rejected(api):
    reply = await api.post("/events", json={"user_id": "alice", "name": "x", "time": "yesterday"})
    assert reply.status == 400 and "time: must be an ISO 8601 date time" in reply.body["error"]["message"]


async def test_unknown_user_and_group_are_created_empty(api):
    await api.ok("POST", "/events", json={"user_id": "newbie", "group_id": "newgroup", "name": "signed_up"})
    assert (await api.ok("GET", "/users/newbie"))["attributes"] == {}
    assert (await api.ok("GET", "/groups/newgroup"))["attributes"] == {}


async def test_deleting_a_group_deletes_its_events(api):
    store = api.client.app[ENVIRONMENTS].get(api.key).userflow
    assert any(e["group_id"] == "globex" for e in store.events.values())
    await api.ok("DELETE", "/groups/globex")
    assert not any(e["group_id"] == "globex" for e in store.events.values())
    assert (await api.get("/users/carol")).status == 200  # members are left intact


async def test_an_explicit_null_time_is_the_time_received(api):
    """The reference: `time` "If not set, it'll default to the curren time when the event is received"; null is not set."""
    event = await api.ok("POST", "/events", json={"user_id": "alice", "name": "a", "time": None, "group_id": None, "attributes": None})
    assert event["time"] == event["created_at"] and event["group_id"] is None and event["attributes"] == {}
