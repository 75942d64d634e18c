"""Hostile input: every case gets a clear 4xx in the API's own format, and the state afterwards equals the state before."""
import json


from mockserver.keys import ENVIRONMENTS

UF = {"Content-Type": "application/json"}
DEEP = "[" * 200 + "]" * 200

# (method, path, raw body or None, extra headers, params)
USERFLOW_CASES = [
    ("POST", "/users", b'{"id": "x", "attributes": {', UF, None),                       # truncated JSON
    ("POST", "/users", b'{"id": "x",,}', UF, None),                                     # malformed JSON
    ("POST", "/users", b'{"id": "\xff\xfe"}', UF, None),                                # invalid UTF-8
    ("POST", "/users", b'\x00\x00\x00', UF, None),                                     # NUL bytes
    ("POST", "/users", json.dumps({"id": "a\u0000b"}).encode(), UF, None),              # NUL in an id
    ("POST", "/users", json.dumps({"id": "x" * 5000}).encode(), UF, None),              # very long id
    ("POST", "/users", json.dumps({"id": "x", "attributes": {"a" * 300: DEEP}}).encode(), UF, None),
    ("POST", "/users", ('{"id": "x", "a": ' + DEEP + "}").encode(), UF, None),         # deeply nested
    ("POST", "/users", json.dumps({"id": "x", "attributes": {"blob": "y" * 2_000_000}}).encode(), UF, None),  # huge body
    ("POST", "/users", b'{"id": "x", "attributes": {"n": NaN}}', UF, None),
    ("POST", "/users", b'{"id": "x", "attributes": {"n": Infinity}}', UF, None),
    ("POST", "/users", b"[]", UF, None),
    ("POST", "/users", b'"just a string"', UF, None),
    ("POST", "/users", b"null", UF, None),
    ("POST", "/users", json.dumps({"id": ["x"]}).encode(), UF, None),                   # wrong types everywhere
    ("POST", "/users", json.dumps({"id": "x", "attributes": []}).encode(), UF, None),
    ("POST", "/users", json.dumps({"id": "x", "groups": {"id": "g"}}).encode(), UF, None),
    ("POST", "/users", json.dumps({"id": "x", "prune_memberships": "yes", "groups": []}).encode(), UF, None),
    ("POST", "/users", json.dumps({"id": "x", "attributes": {"n": {"add": "1"}}}).encode(), UF, None),
    ("POST", "/users", json.dumps({"id": "alice", "attributes": {"project_count": {"append": "x"}}}).encode(), UF, None),
    ("POST", "/users", json.dumps({"id": "x", "memberships": [{"group": {"id": 7}}]}).encode(), UF, None),
    ("POST", "/groups", json.dumps({"id": True}).encode(), UF, None),
    ("POST", "/events", json.dumps({"name": 5, "user_id": "alice"}).encode(), UF, None),
    ("POST", "/events", json.dumps({"name": "x", "user_id": "alice", "time": "0000-00-00T00:00"}).encode(), UF, None),
    ("POST", "/events", json.dumps({"name": "x", "user_id": "alice", "time": "9999-12-31T23:59:59-05:00"}).encode(), UF, None),
    ("POST", "/webhook_subscriptions", json.dumps({"url": "javascript:alert(1)", "topics": ["*"]}).encode(), UF, None),
    ("POST", "/webhook_subscriptions", json.dumps({"url": "file:///etc/passwd", "topics": ["*"]}).encode(), UF, None),
    ("POST", "/users", b'{"id": "x"}', {"Content-Type": "text/plain"}, None),            # header abuse
    ("POST", "/users", b'{"id": "x"}', {"Content-Type": "application/json", "Userflow-Version": "2020-01-03\t; drop"}, None),
    ("POST", "/users", b'{"id": "x"}', {"Content-Type": "application/json", "Accept": "text/html"}, None),
    ("GET", "/users/alice", None, {"Authorization": "Bearer " + "a" * 5000}, None),
    ("GET", "/users/alice", None, {"Authorization": "Bearer ak_" + "b" * 300}, None),
    ("GET", "/users/alice", None, {"Authorization": "Bearer ak_x\u00e9"}, None),
    ("GET", "/users/..%2F..%2Fetc%2Fpasswd", None, {}, None),                              # path tricks
    ("GET", "/users/%2e%2e%2f%2e%2e", None, {}, None),
    ("GET", "/users/%00", None, {}, None),
    ("GET", "/users/" + "z" * 3000, None, {}, None),
    ("GET", "/../../etc/passwd", None, {}, None),
    ("GET", "/users/alice%2F..%2F..%2F__mock%2Fhealth", None, {}, None),
    ("GET", "/users", None, {}, [("limit", "1"), ("limit", "2")]),                      # duplicate and conflicting parameters
    ("GET", "/users", None, {}, [("starting_after", "alice"), ("starting_after[]", "bob")]),
    ("GET", "/users", None, {}, [("email", "a"), ("email[]", "b")]),
    ("GET", "/users", None, {}, [("order_by", "created_at"), ("order_by", "-nope")]),
    ("GET", "/users", None, {}, [("limit", "1e2")]),
    ("GET", "/users", None, {}, [("limit", "٣")]),
    ("GET", "/users", None, {}, [("expand", "memberships." * 10)]),
    ("GET", "/users", None, {}, [("condition", json.dumps({"type": "attribute", "attribute_name": "a", "operator": "eq",
                                                          "value": {"$gt": ""}}))]),
    ("GET", "/users", None, {}, [("condition", "[" * 1000)]),
    ("GET", "/content_versions", None, {}, [("content_id", "x"), ("number", "--1")]),
    ("DELETE", "/group_memberships", None, {}, [("user_id", "alice")]),
    ("PUT", "/users/alice", b"{}", UF, None),
    ("PATCH", "/webhook_subscriptions/nope", b"{}", UF, None),
]
FRIGADE_CASES = [
    ("POST", "/v1/public/flowStates", b'{"userId": ', UF, None),
    ("POST", "/v1/public/flowStates", json.dumps({"userId": {"$ne": None}}).encode(), UF, None),
    ("POST", "/v1/public/flowStates", json.dumps({"userId": "u\u0000", "flowSlug": "flow_checklist", "actionType": "STARTED_FLOW"}).encode(), UF, None),
    ("POST", "/v1/public/flowStates", json.dumps({"userId": "u", "flowSlug": "../flow", "actionType": "STARTED_FLOW"}).encode(), UF, None),
    ("POST", "/v1/public/users", json.dumps({"userId": "u", "properties": "x" * 10}).encode(), UF, None),
    ("PUT", "/v1/flows/101", json.dumps({"data": "!!python/object/apply:os.system ['echo pwned']"}).encode(), UF, None),
    ("PUT", "/v1/flows/101", json.dumps({"data": "steps: &a [*a]"}).encode(), UF, None),
    ("PUT", "/v1/flows/101", json.dumps({"type": ["TOUR"]}).encode(), UF, None),
    ("PUT", "/v1/flows/-1", json.dumps({"name": "x"}).encode(), UF, None),
    ("PUT", "/v1/flows/99999999999999999999999", json.dumps({"name": "x"}).encode(), UF, None),
    ("GET", "/v1/public/flowStates", None, {}, [("userId", "a"), ("userId", "b")]),
    ("GET", "/v1/flows/%2e%2e", None, {}, None),
    ("DELETE", "/v1/users", None, {}, [("userId", "")]),
    ("GET", "/v1/public/flows", None, {}, [("limit", "0")]),
]


def snapshot(api) -> str:
    env = api.client.app[ENVIRONMENTS].get(api.key if api.key.startswith("ak_") else api.key.split("_", 2)[2])
    u, f = env.userflow, env.frigade
    state = {"users": list(u.users.values()), "groups": list(u.groups.values()), "memberships": list(u.memberships.values()),
             "events": list(u.events.values()), "attribute_definitions": list(u.definitions.attributes.values()),
             "event_definitions": list(u.definitions.events.values()), "subscriptions": list(u.subscriptions.values()),
             "outbox": u.outbox + f.outbox, "flows": list(f.flows.values()), "frigade_users": list(f.users.values()),
             "frigade_groups": list(f.groups.values()), "states": {"|".join(k): v for k, v in f.states.items()}}
    return json.dumps(state, sort_keys=True)


async def run_corpus(api, cases, error_check):
    await api.get("/users/alice" if api.key.startswith("ak_") else "/v1/flows")  # the environment exists
    before = snapshot(api)
    for method, path, body, headers, params in cases:
        reply = await api.call(method, path, data=body, headers=headers, params=params)
        assert 400 <= reply.status < 500, (method, path, reply.status, reply.body)
        error_check(reply)
    assert snapshot(api) == before


async def test_userflow_hostile_input(api):
    def check(reply):
        assert set(reply.body) == {"error"} and reply.body["error"]["message"]
    await run_corpus(api, USERFLOW_CASES, check)


async def test_frigade_hostile_input(make_api):
    api = await make_api(key="api_private_hostile")

    def check(reply):
        assert reply.body["statusCode"] == reply.status and reply.body["message"] and reply.body["error"]
    await run_corpus(api, FRIGADE_CASES, check)


def test_the_corpus_is_large_enough():
    assert len(USERFLOW_CASES) + len(FRIGADE_CASES) >= 60
