"""Frigade: keys, flows, PUT/DELETE, users, groups, sessions, and the flow-state machine over HTTP."""
import json

import pytest
import yaml

FORBIDDEN = {"statusCode": 403, "message": "Forbidden resource", "error": "Forbidden"}


@pytest.fixture
async def frigade(make_api):
    api = await make_api(key="api_private_acme1")
    api.public = "api_public_acme1"
    return api


def flow_of(states, slug):
    return next(f for f in states["eligibleFlows"] if f["flowSlug"] == slug)


async def act(api, action, slug="flow_checklist", step=None, key=None, **extra):
    body = {"userId": "u1", "flowSlug": slug, "actionType": action, **({"stepId": step} if step else {}), **extra}
    return await api.ok("POST", "/v1/public/flowStates", status=201, json=body, key=key, schema="frigade/user_flow_states.json")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer ak_userflowkey"}, {"Authorization": "Bearer api_secret_x"},
                                     {"Authorization": "Basic api_private_x"}])
async def test_missing_or_invalid_keys_are_403(frigade, headers):
    frigade.key = ""
    reply = await frigade.get("/v1/public/flows", headers=headers)
    assert reply.status == 403 and reply.body == FORBIDDEN


async def test_public_keys_only_reach_public_routes(frigade):
    for method, path in (("GET", "/v1/flows"), ("GET", "/v1/flows/101"), ("PUT", "/v1/flows/101"), ("DELETE", "/v1/flows/101"),
                         ("GET", "/v1/users?userId=u1"), ("DELETE", "/v1/groups?groupId=g")):
        reply = await frigade.call(method, path, key=frigade.public, json={})
        assert reply.status == 403 and reply.body == FORBIDDEN, path
    assert (await frigade.get("/v1/public/flows", key=frigade.public)).status == 200


async def test_public_and_private_keys_share_one_environment(frigade):
    await act(frigade, "STARTED_FLOW", key=frigade.public)
    user = await frigade.ok("GET", "/v1/users", params={"userId": "u1"}, schema="frigade/user.json")
    assert [s["flowSlug"] for s in user["userFlowStates"]] == ["flow_checklist"]
    other = await frigade.ok("POST", "/v1/public/flowStates", status=201, json={"userId": "u1"}, key="api_private_other")
    assert flow_of(other, "flow_checklist")["$state"]["started"] is False


async def test_unknown_routes_answer_like_nestjs(frigade):
    reply = await frigade.get("/v1/nothing")
    assert reply.status == 404 and reply.body == {"statusCode": 404, "message": "Cannot GET /v1/nothing", "error": "Not Found"}
    reply = await frigade.call("PATCH", "/v1/flows/101", json={})
    assert reply.status == 404 and reply.body["message"] == "Cannot PATCH /v1/flows/101"


async def test_list_flows_hides_private_fields_from_public_keys(frigade):
    private = await frigade.ok("GET", "/v1/flows", schema="frigade/flow_list.json")
    public = await frigade.ok("GET", "/v1/public/flows", key=frigade.public, schema="frigade/flow_list.json")
    assert [f["slug"] for f in private["data"]] == ["flow_checklist", "flow_announcement", "flow_off"]
    assert private["offset"] == 0 and private["limit"] == 100
    assert private["data"][0]["codeSnippet"] == '<Frigade.Checklist flowId="flow_checklist" />'
    assert all("codeSnippet" not in f for f in public["data"])
    assert [f["id"] for f in public["data"]] == [101, 102, 103]
    page = await frigade.ok("GET", "/v1/flows", params={"offset": "1", "limit": "1"})
    assert [f["slug"] for f in page["data"]] == ["flow_announcement"]


async def test_get_flow_by_slug_or_numeric_id(frigade):
    by_slug = await frigade.ok("GET", "/v1/public/flows/flow_announcement", key=frigade.public, schema="frigade/flow.json")
    by_id = await frigade.ok("GET", "/v1/public/flows/102", key=frigade.public, schema="frigade/flow.json")
    assert by_slug == by_id and by_slug["type"] == "ANNOUNCEMENT" and by_slug["active"] is True
    assert yaml.safe_load(by_slug["data"])["steps"][0] == {"id": "hello", "title": "Hello"}
    reply = await frigade.get("/v1/flows/flow_nope")
    assert reply.status == 404 and reply.body == {"statusCode": 404, "message": "Flow 'flow_nope' not found", "error": "Not Found"}


async def test_put_flow_updates_every_field(frigade):
    before = await frigade.ok("GET", "/v1/flows/102", schema="frigade/flow.json")
    new_data = {"title": "Hi", "steps": [{"id": "one", "title": "One"}, {"id": "two"}, {"id": "three"}]}
    updated = await frigade.ok("PUT", "/v1/flows/102", schema="frigade/flow.json", json={
        "name": "Welcome v2", "description": "New copy", "targetingLogic": "user.property('plan') == 'pro'",
        "type": "CARD", "active": False, "data": json.dumps(new_data)})
    assert {k: updated[k] for k in ("name", "description", "targetingLogic", "type", "active")} == {
        "name": "Welcome v2", "description": "New copy", "targetingLogic": "user.property('plan') == 'pro'", "type": "CARD", "active": False}
    # the PUT reference: the response's data is "JSON encoded raw data of the Flow as defined in the Flow's YAML configuration"
    assert json.loads(updated["data"]) == new_data
    assert updated["modifiedAt"] > before["modifiedAt"] and updated["createdAt"] == before["createdAt"]
    assert await frigade.ok("GET", "/v1/flows/flow_announcement") == updated
    states = await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"})
    assert "flow_announcement" in states["ineligibleFlows"]


async def test_put_yaml_data_changes_the_steps_users_see(frigade):
    """The PUT reference: data is "JSON or YAML encoded raw data of thew Flow. If provided in JSON format it will be
    converted to YAML automatically"; the answer's data is JSON."""
    text = "steps:\n  - id: first\n    title: First\n  - id: second\n"
    updated = await frigade.ok("PUT", "/v1/flows/101", json={"data": text})
    assert updated["data"] == '{"steps":[{"id":"first","title":"First"},{"id":"second"}]}'
    assert (await frigade.ok("GET", "/v1/public/flows/flow_checklist", key=frigade.public))["data"] == updated["data"]
    states = await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"})
    assert [s["id"] for s in flow_of(states, "flow_checklist")["data"]["steps"]] == ["first", "second"]


@pytest.mark.parametrize("body, problem", [
    ({"type": "WIZARD"}, "type must be one of the following values: ANNOUNCEMENT, BANNER, CARD, CHECKLIST, CUSTOM, FORM, SURVEY, TOUR"),
    ({"data": "title: no steps"}, "data.steps should not be empty"),
    ({"data": "steps: [{title: no id}]"}, "data.steps.0.id should not be empty"),
    ({"data": "steps: ["}, "data must be valid JSON or YAML"),
    ({"data": {"steps": []}}, "data must be a string"),
    ({"active": "yes"}, "active must be a boolean value"),
    ({"name": None}, "name must be a string"),
])
async def test_put_validation_lists_problems(frigade, body, problem):
    """NestJS validates with class-validator: `message` lists one sentence per problem ('name must be a string'),
    as frigade-notes.md says: "`message` is a list for per-field validation failures"."""
    reply = await frigade.call("PUT", "/v1/flows/101", json=body)
    assert reply.status == 400 and reply.body["error"] == "Bad Request" and isinstance(reply.body["message"], list)
    assert any(problem in line for line in reply.body["message"]), reply.body


async def test_put_and_delete_need_the_numeric_id(frigade):
    assert (await frigade.call("PUT", "/v1/flows/flow_checklist", json={"name": "x"})).status == 404
    assert (await frigade.call("DELETE", "/v1/flows/flow_checklist")).status == 404
    assert (await frigade.call("DELETE", "/v1/flows/101")).status == 204
    assert (await frigade.get("/v1/flows/101")).status == 404
    assert (await frigade.call("DELETE", "/v1/flows/101")).status == 404
    states = await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"})
    assert [f["flowSlug"] for f in states["eligibleFlows"]] == ["flow_announcement"]


async def test_sdk_lifecycle(frigade):
    """Refresh, start flow, complete steps, complete flow, track, restart: every state change checked."""
    refreshed = await frigade.ok("POST", "/v1/public/flowStates", status=201, key=frigade.public,
                                 json={"userId": "u1", "context": {"url": "/home"}}, schema="frigade/user_flow_states.json")
    assert [f["flowSlug"] for f in refreshed["eligibleFlows"]] == ["flow_checklist", "flow_announcement"]
    assert refreshed["ineligibleFlows"] == ["flow_off"]
    fresh = flow_of(refreshed, "flow_checklist")
    assert fresh["flowName"] == "Onboarding checklist" and fresh["flowType"] == "CHECKLIST" and fresh["version"] == 1
    assert fresh["data"]["title"] == "Get started" and fresh["data"]["steps"][0]["primaryButton"] == {"title": "Create"}
    # "currentStepIndex ... Will be -1 if the user has not started the Flow"; lastActionAt, a date-time, comes with the first action
    assert fresh["$state"] == {"currentStepId": "step-1", "currentStepIndex": -1, "completed": False, "started": False,
                               "skipped": False, "visible": True}
    assert fresh["data"]["steps"][0]["$state"] == {"completed": False, "skipped": False, "started": False, "visible": True,
                                                   "blocked": False}

    started = flow_of(await act(frigade, "STARTED_FLOW", key=frigade.public), "flow_checklist")["$state"]
    assert (started["started"], started["currentStepIndex"], started["currentStepId"]) == (True, 0, "step-1")
    assert started["lastActionAt"] is not None

    flow = flow_of(await act(frigade, "COMPLETED_STEP", step="step-1", data={"action": "click"}, key=frigade.public), "flow_checklist")
    assert flow["data"]["steps"][0]["$state"]["completed"] is True and flow["data"]["steps"][0]["$state"]["started"] is True
    assert (flow["$state"]["currentStepId"], flow["$state"]["currentStepIndex"], flow["$state"]["completed"]) == ("step-2", 1, False)

    await act(frigade, "COMPLETED_STEP", step="step-2", data='{"invited": 3}', key=frigade.public)
    flow = flow_of(await act(frigade, "COMPLETED_STEP", step="step-3", key=frigade.public), "flow_checklist")
    assert all(s["$state"]["completed"] for s in flow["data"]["steps"])
    assert (flow["$state"]["currentStepId"], flow["$state"]["currentStepIndex"], flow["$state"]["completed"]) == ("step-3", 2, False)

    done = flow_of(await act(frigade, "COMPLETED_FLOW", key=frigade.public), "flow_checklist")["$state"]
    assert (done["completed"], done["started"], done["visible"]) == (True, True, False)

    assert (await frigade.call("POST", "/v1/public/users", key=frigade.public,
                               json={"userId": "u1", "properties": {"plan": "pro"}, "events": [{"event": "checklist_done"}]})).status == 201
    user = await frigade.ok("GET", "/v1/users", params={"userId": "u1"}, schema="frigade/user.json")
    assert user["properties"] == {"plan": "pro"} and [e["event"] for e in user["trackingEvents"]] == ["checklist_done"]
    [state] = user["userFlowStates"]
    assert state["completed"] is True and [r["actionType"] for r in state["flowResponses"]] == [
        "STARTED_FLOW", "COMPLETED_STEP", "COMPLETED_STEP", "COMPLETED_STEP", "COMPLETED_FLOW"]
    assert state["flowResponses"][1]["data"] == '{"action":"click"}' and state["flowResponses"][2]["data"] == '{"invited": 3}'

    restarted = flow_of(await act(frigade, "NOT_STARTED_FLOW", key=frigade.public), "flow_checklist")
    # not started again, so -1 again: "Will be -1 if the user has not started the Flow"
    assert {k: restarted["$state"][k] for k in ("completed", "started", "visible", "currentStepIndex", "currentStepId")} == {
        "completed": False, "started": False, "visible": True, "currentStepIndex": -1, "currentStepId": "step-1"}
    assert not any(s["$state"]["completed"] or s["$state"]["started"] for s in restarted["data"]["steps"])


async def test_flow_responses_only_for_private_keys(frigade):
    await act(frigade, "STARTED_STEP", step="step-2", key=frigade.public)
    public = flow_of(await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"}, key=frigade.public), "flow_checklist")
    private = flow_of(await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"}), "flow_checklist")
    assert "flowResponses" not in public["$state"] and "flowResponses" not in public["data"]["steps"][1]["$state"]
    assert [r["actionType"] for r in private["$state"]["flowResponses"]] == ["STARTED_STEP"]
    assert [r["stepId"] for r in private["data"]["steps"][1]["$state"]["flowResponses"]] == ["step-2"]
    assert private["data"]["steps"][0]["$state"]["flowResponses"] == []


async def test_step_cursor_moves_both_ways_and_steps_can_be_skipped_or_reset(frigade):
    state = flow_of(await act(frigade, "STARTED_STEP", step="step-3"), "flow_checklist")
    assert (state["$state"]["currentStepIndex"], state["$state"]["started"]) == (2, True)
    state = flow_of(await act(frigade, "STARTED_STEP", step="step-1"), "flow_checklist")
    assert state["$state"]["currentStepId"] == "step-1"
    state = flow_of(await act(frigade, "SKIPPED_STEP", step="step-1"), "flow_checklist")
    step = state["data"]["steps"][0]["$state"]
    assert (step["skipped"], step["completed"], step["started"], state["$state"]["currentStepId"]) == (True, False, True, "step-2")
    state = flow_of(await act(frigade, "NOT_STARTED_STEP", step="step-1"), "flow_checklist")
    assert {k: state["data"]["steps"][0]["$state"][k] for k in ("skipped", "completed", "started")} == {
        "skipped": False, "completed": False, "started": False}


async def test_skipping_a_flow_hides_it(frigade):
    state = flow_of(await act(frigade, "SKIPPED_FLOW", slug="flow_announcement"), "flow_announcement")["$state"]
    assert (state["skipped"], state["visible"], state["completed"]) == (True, False, False)


async def test_progress_is_the_users_when_the_sdk_starts_sending_a_group(frigade):
    """After `frigade.group()` the SDK sends `groupId` with every call: the user's progress must not vanish. Progress is
    per user; the group is for targeting and group properties (the user joins it)."""
    await act(frigade, "COMPLETED_STEP", step="step-1")
    with_group = flow_of(await act(frigade, "COMPLETED_STEP", step="step-2", groupId="team-1"), "flow_checklist")
    assert [s["$state"]["completed"] for s in with_group["data"]["steps"]] == [True, True, False]
    for params in ({"userId": "u1"}, {"userId": "u1", "groupId": "team-1"}, {"userId": "u1", "groupId": "team-2"}):
        states = await frigade.ok("GET", "/v1/public/flowStates", params=params)
        assert flow_of(states, "flow_checklist")["$state"]["currentStepId"] == "step-3", params
    group = await frigade.ok("GET", "/v1/groups", params={"groupId": "team-1"}, schema="frigade/group.json")
    assert group["userIds"] == ["u1"]
    await frigade.call("DELETE", "/v1/groups", params={"groupId": "team-1"})
    states = await frigade.ok("GET", "/v1/public/flowStates", params={"userId": "u1"})
    assert flow_of(states, "flow_checklist")["$state"]["currentStepIndex"] == 2  # the group went; the user's progress stayed


@pytest.mark.parametrize("body, status, problem", [
    ({"userId": "u1", "flowSlug": "flow_checklist", "actionType": "FINISHED"}, 400,
     "actionType must be one of the following values: STARTED_STEP, COMPLETED_STEP"),
    ({"userId": "u1", "flowSlug": "flow_checklist"}, 400, "actionType should not be empty"),
    ({"userId": "u1", "actionType": "STARTED_FLOW"}, 400, "flowSlug should not be empty"),
    ({"flowSlug": "flow_checklist", "actionType": "STARTED_FLOW"}, 400, "userId should not be empty"),
    ({"userId": 7}, 400, "userId must be a string"),
    ({"userId": "u1", "flowSlug": "flow_checklist", "actionType": "COMPLETED_STEP"}, 400, "stepId is required for COMPLETED_STEP"),
    ({"userId": "u1", "flowSlug": "flow_checklist", "actionType": "COMPLETED_STEP", "stepId": "step-9"}, 400,
     "stepId must be one of the steps of flow_checklist: step-1, step-2, step-3"),
    ({"userId": "u1", "flowSlug": "flow_checklist", "actionType": "STARTED_FLOW", "data": 5}, 400, "data must be a string or an object"),
    ({"userId": "u1", "flowSlug": "flow_ghost", "actionType": "STARTED_FLOW"}, 404, "Flow 'flow_ghost' not found"),
    ({"userId": "u1", "flowSlug": "101", "actionType": "STARTED_FLOW"}, 404, "Flow '101' not found"),
])
async def test_flow_state_validation(frigade, body, status, problem):
    reply = await frigade.call("POST", "/v1/public/flowStates", json=body, key=frigade.public)
    assert reply.status == status
    message = reply.body["message"]
    assert any(problem in line for line in message) if isinstance(message, list) else problem in message, reply.body


async def test_get_flow_states_needs_user_id(frigade):
    reply = await frigade.get("/v1/public/flowStates", key=frigade.public)
    assert reply.status == 400 and reply.body == {"statusCode": 400, "message": ["userId should not be empty"], "error": "Bad Request"}


async def test_users_groups_and_sessions_upsert(frigade):
    pub = frigade.public
    assert (await frigade.call("POST", "/v1/public/users", key=pub, json={"userId": "u2", "properties": {"a": 1}})).status == 201
    await frigade.call("POST", "/v1/public/users", key=pub, json={"userId": "u2", "properties": {"b": 2}, "events": [{"event": "x", "properties": {"n": 1}}]})
    user = await frigade.ok("GET", "/v1/users", params={"userId": "u2"})
    assert user["properties"] == {"a": 1, "b": 2} and user["trackingEvents"][0]["properties"] == {"n": 1}
    await frigade.call("POST", "/v1/public/groups", key=pub, json={"groupId": "g1", "userId": "u2", "properties": {"seats": 5}})
    await frigade.call("POST", "/v1/public/sessions", key=pub, json={"userId": "u3", "groupId": "g1", "userProperties": {"name": "Three"},
                                                                      "groupProperties": {"seats": 6}, "groupEvents": [{"event": "renewed"}]})
    group = await frigade.ok("GET", "/v1/groups", params={"groupId": "g1"})
    assert group["userIds"] == ["u2", "u3"] and group["properties"] == {"seats": 6} and group["trackingEvents"][0]["event"] == "renewed"
    assert (await frigade.ok("GET", "/v1/users", params={"userId": "u3"}))["properties"] == {"name": "Three"}
    reply = await frigade.call("POST", "/v1/public/users", key=pub, json={"properties": {}})
    assert reply.status == 400 and reply.body["message"] == ["userId should not be empty"]


async def test_delete_users_and_groups(frigade):
    await act(frigade, "STARTED_FLOW", groupId="g9")
    assert (await frigade.call("DELETE", "/v1/users", params={"userId": "u1"})).status == 200
    assert (await frigade.get("/v1/users", params={"userId": "u1"})).status == 404
    assert (await frigade.call("DELETE", "/v1/users", params={"userId": "u1"})).status == 404
    assert (await frigade.ok("GET", "/v1/groups", params={"groupId": "g9"}))["userIds"] == []
    assert (await frigade.call("DELETE", "/v1/groups", params={"groupId": "g9"})).status == 200
    assert (await frigade.get("/v1/groups", params={"groupId": "g9"})).status == 404
    reply = await frigade.get("/v1/users")
    assert reply.status == 400 and reply.body["message"] == ["userId should not be empty"]


async def test_built_in_flows(make_api):
    api = await make_api(key="api_private_seeded", fixtures=None)
    flows = (await api.ok("GET", "/v1/flows", schema="frigade/flow_list.json"))["data"]
    assert len(flows) >= 8 and {f["type"] for f in flows} == {"ANNOUNCEMENT", "BANNER", "CARD", "CHECKLIST", "CUSTOM", "FORM", "SURVEY", "TOUR"}
    assert {f["status"] for f in flows} == {"ACTIVE", "ARCHIVED", "DRAFT"} and any(not f["active"] for f in flows)
    assert all(f["slug"].startswith("flow_") and 2 <= len(yaml.safe_load(f["data"])["steps"]) <= 6 for f in flows)
    assert any("fields" in step for f in flows for step in yaml.safe_load(f["data"])["steps"])
    user = await api.ok("GET", "/v1/users", params={"userId": "user_001"}, schema="frigade/user.json")
    assert user["properties"]["email"].endswith("@example.com")
    progressed = 0
    for n in range(1, 41):
        progressed += bool((await api.ok("GET", "/v1/users", params={"userId": f"user_{n:03d}"}))["userFlowStates"])
    assert progressed >= 20


async def test_unexpected_failure_is_nestjs_500(frigade, monkeypatch):
    from mockserver.keys import ENVIRONMENTS
    store = frigade.client.app[ENVIRONMENTS].get("acme1").frigade
    monkeypatch.setattr(store, "list_flows", lambda: 1 / 0)
    reply = await frigade.get("/v1/flows")
    assert reply.status == 500 and reply.body == {"statusCode": 500, "message": "Internal server error"}


async def test_frigade_requests_are_journaled_under_their_environment(frigade):
    await frigade.get("/v1/public/flows", key=frigade.public)
    journal = await frigade.ok("GET", "/__mock/requests", params={"env": "acme1"})
    assert [(e["api"], e["path"], e["response"]["status"]) for e in journal["requests"]] == [("frigade", "/v1/public/flows", 200)]
    assert (await frigade.ok("POST", "/__mock/reset", json={"env": "acme1"}))["reset"] == ["acme1"]


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
async def test_a_body_that_is_not_json_fails_validation_as_in_nestjs(frigade, content_type):
    """NestJS parses JSON bodies only; anything else reaches validation empty: 400 with class-validator's messages, not 415."""
    headers = {"Content-Type": content_type} if content_type else {}
    reply = await frigade.call("POST", "/v1/public/flowStates", data=b"userId=u1", headers=headers, key=frigade.public)
    assert reply.status == 400 and reply.body == {"statusCode": 400, "message": ["userId should not be empty"], "error": "Bad Request"}
