"""Scenarios: matchers, order, times, scripted responses, faults, delays, limits, webhook steps, verify, record and replay."""
import asyncio
import time
from pathlib import Path

import aiohttp
import pytest
import yaml

from mockserver.scenarios import RequestView, Step
from test_webhooks import settle, verify_signature

EXAMPLES = Path(__file__).parent.parent / "fixtures" / "scenarios"


async def load(api, doc, status=201):
    reply = await api.call("POST", "/__mock/scenarios", data=yaml.safe_dump(doc), headers={"Content-Type": "application/yaml"})
    assert reply.status == status, reply.body
    return reply.body


async def verify(api, name):
    return await api.call("POST", f"/__mock/scenarios/{name}/verify")


def view(method="GET", path="/users/u1", query=None, headers=None, body=None):
    return RequestView(method, path, query or {}, headers or {}, body)


# -- matchers, without HTTP --------------------------------------------------------------------

def test_method_and_path_patterns():
    step = Step(1, {"method": "get", "path": "/users/{user_id}"})
    assert step.mismatches(view()) == []
    assert step.mismatches(view("POST")) == ["method: expected GET, got POST"]
    assert step.mismatches(view(path="/users/u1/extra")) == ["path: expected /users/{user_id}, got /users/u1/extra"]
    assert Step(1, {"path": "/users"}).mismatches(view("DELETE", "/users")) == []


def test_query_matcher():
    step = Step(1, {"path": "/users", "query": {"limit": 5, "expand": ["groups", "memberships"]}})
    ok = view(path="/users", query={"limit": ["5"], "expand[]": ["groups", "memberships"], "extra": ["1"]})
    assert step.mismatches(ok) == []
    assert step.mismatches(view(path="/users", query={"limit": ["6"], "expand": ["groups"]})) == [
        "query.limit: expected '5', got '6'", "query.expand: expected ['groups', 'memberships'], got 'groups'"]


def test_header_matcher_ignores_case_of_names():
    step = Step(1, {"path": "/users", "headers": {"Userflow-Version": "2020-01-03"}})
    assert step.mismatches(view(path="/users", headers={"userflow-version": "2020-01-03"})) == []
    assert step.mismatches(view(path="/users")) == ["headers.Userflow-Version: expected '2020-01-03', got nothing"]


def test_partial_nested_body_matcher():
    step = Step(1, {"path": "/users", "body": {"id": "u1", "attributes": {"plan": "pro"}, "groups": [{"id": "g1"}]}})
    actual = {"id": "u1", "attributes": {"plan": "pro", "name": "x"}, "groups": [{"id": "g1", "attributes": {}}], "more": 1}
    assert step.mismatches(view(path="/users", body=actual)) == []
    wrong = {"id": "u2", "attributes": {"plan": "free"}, "groups": []}
    assert step.mismatches(view(path="/users", body=wrong)) == [
        "body.id: expected 'u1', got 'u2'", "body.attributes.plan: expected 'pro', got 'free'",
        "body.groups: expected a list of 1, got []"]
    assert step.mismatches(view(path="/users", body={"attributes": "x"}))[:2] == [
        "body.id: expected 'u1', missing", "body.attributes: expected an object, got 'x'"]


# -- over HTTP -----------------------------------------------------------------------------------

async def test_load_list_get_and_delete(api):
    progress = await load(api, {"name": "s1", "steps": [{"request": {"method": "GET", "path": "/users/alice"}, "times": 2}]})
    assert progress["met"] is False and progress["steps"][0]["remaining"] == 2 and progress["order"] == "strict"
    await api.get("/users/alice")
    one = await api.ok("GET", "/__mock/scenarios/s1")
    assert one["steps"][0]["consumed"] == 1 and one["steps"][0]["consumed_by"][0].startswith("req_")
    assert [s["name"] for s in (await api.ok("GET", "/__mock/scenarios"))["scenarios"]] == ["s1"]
    assert await api.ok("DELETE", "/__mock/scenarios/s1") == {"name": "s1", "deleted": True}
    assert (await api.get("/__mock/scenarios/s1")).status == 404


async def test_loading_json_and_replacing_by_name(api):
    body = '{"name": "s1", "steps": [{"request": {"path": "/groups"}}]}'
    reply = await api.call("POST", "/__mock/scenarios", data=body, headers={"Content-Type": "application/json"})
    assert reply.status == 201
    await load(api, {"name": "s1", "steps": [{"request": {"path": "/users"}}, {"request": {"path": "/users"}}]})
    assert len((await api.ok("GET", "/__mock/scenarios/s1"))["steps"]) == 2


async def test_invalid_scenarios_are_400_with_line_numbers(api):
    text = "name: bad\nsteps:\n  - request: {method: GET}\n    response: {fault: explode}\n"
    reply = await api.call("POST", "/__mock/scenarios", data=text, headers={"Content-Type": "application/yaml"})
    assert reply.status == 400
    message = reply.body["error"]["message"]
    assert "request body:3: steps[0].request.path: is required (rule: required)" in message
    assert "request body:4: steps[0].response.fault: must be connection_reset, timeout or empty_response" in message


async def test_strict_order_and_verify_report(api):
    await load(api, {"name": "signup", "order": "strict", "steps": [
        {"request": {"method": "POST", "path": "/users", "body": {"id": "user-1"}}},
        {"request": {"method": "GET", "path": "/users/{id}"}}]})
    await api.get("/users/alice")  # matches step 2 while step 1 is pending: out of order
    await api.post("/users", json={"id": "user-2"})  # close to step 1, but not it
    reply = await verify(api, "signup")
    assert reply.status == 409 and reply.body["met"] is False
    report = reply.body["report"]
    assert report.startswith("Scenario 'signup' is not met:\n  step 1 (POST /users): expected 1 more time (received 0 of 1)")
    assert "    closest: POST /users (req_" in report and "      body.id: expected 'user-1', got 'user-2'" in report
    assert "out of order: GET /users/alice" in report and "matched step 2 (GET /users/{id}) while step 1 (POST /users)" in report


async def test_strict_order_met(api):
    await load(api, {"name": "ok", "steps": [{"request": {"method": "POST", "path": "/users"}},
                                             {"request": {"method": "GET", "path": "/users/{id}"}, "times": 2}]})
    await api.post("/users", json={"id": "user-1"})
    await api.get("/users/user-1")
    assert (await verify(api, "ok")).status == 409
    await api.get("/users/user-1")
    reply = await verify(api, "ok")
    assert reply.status == 200 and reply.body["report"] == "Scenario 'ok': every expectation was met (2 steps)."


async def test_any_order(api):
    await load(api, {"name": "any", "order": "any", "steps": [{"request": {"path": "/groups"}}, {"request": {"path": "/users"}}]})
    await api.get("/users")
    await api.get("/groups")
    assert (await verify(api, "any")).status == 200


async def test_times_then_the_mock_answers(api):
    await load(api, {"name": "t", "steps": [{"request": {"path": "/users/alice"}, "response": {"status": 500}, "times": 2}]})
    assert [(await api.get("/users/alice")).status for _ in range(3)] == [500, 500, 200]


async def test_scripted_error_without_body_uses_the_apis_envelope(api):
    await load(api, {"name": "e", "steps": [{"request": {"path": "/users"}, "response": {"status": 503, "headers": {"Retry-After": "2"}}},
                                            {"request": {"path": "/v1/public/flows"}, "response": {"status": 429}}]})
    reply = await api.get("/users")
    assert reply.status == 503 and reply.headers["Retry-After"] == "2"
    assert reply.body["error"]["code"] == "service_unavailable" and "scenario 'e', step 1" in reply.body["error"]["message"]
    reply = await api.get("/v1/public/flows", key="api_public_x")
    assert reply.status == 429 and reply.body == {
        "statusCode": 429, "message": "Your account has used its maximum allowed MAUs. Contact Frigade support to upgrade."}


async def test_scripted_body_and_scripted_status_on_the_mocks_answer(api):
    await load(api, {"name": "b", "order": "any", "steps": [
        {"request": {"path": "/users/alice"}, "response": {"status": 200, "body": {"id": "alice", "object": "user", "attributes": {},
                                                                                   "created_at": "2020-01-01T00:00:00.000+00:00",
                                                                                   "groups": None, "memberships": None}}},
        {"request": {"path": "/users/bob"}, "response": {"status": 202, "headers": {"X-Scripted": "yes"}}}]})
    assert (await api.ok("GET", "/users/alice"))["attributes"] == {}
    reply = await api.get("/users/bob")
    assert reply.status == 202 and reply.headers["X-Scripted"] == "yes" and reply.body["attributes"]["name"] == "Bob Brown"


async def test_a_scripted_body_with_its_own_content_type(api):
    await load(api, {"name": "ct", "steps": [{"request": {"path": "/users/alice"}, "response": {
        "status": 400, "headers": {"Content-Type": "application/problem+json"}, "body": {"title": "scripted"}}}]})
    async with api.client.get("/users/alice", headers={"Authorization": f"Bearer {api.key}"}) as reply:
        assert reply.status == 400 and reply.headers["Content-Type"] == "application/problem+json"
        assert await reply.json(content_type=None) == {"title": "scripted"}


async def test_delay_then_the_mock_answers(api):
    await load(api, {"name": "slow", "steps": [{"request": {"path": "/users/alice"}, "response": {"delay_ms": 200}}]})
    started = time.monotonic()
    user = await api.ok("GET", "/users/alice")
    assert time.monotonic() - started >= 0.2 and user["id"] == "alice"


@pytest.mark.parametrize("fault, error", [("connection_reset", aiohttp.ClientOSError), ("empty_response", aiohttp.ServerDisconnectedError),
                                          ("timeout", asyncio.TimeoutError)])
async def test_faults(api, fault, error):
    response = {"fault": fault, **({"delay_ms": 2000} if fault == "timeout" else {})}  # timeout: held 2 s, the client gives up first
    await load(api, {"name": "f", "steps": [{"request": {"path": "/users/alice"}, "response": response}]})
    with pytest.raises(error):
        await api.client.get("/users/alice", headers={"Authorization": f"Bearer {api.key}"}, timeout=aiohttp.ClientTimeout(total=0.5))
    journal = await api.ok("GET", "/__mock/requests")
    assert [(e["fault"], e["response"]["status"]) for e in journal["requests"]] == [(fault, None)]
    assert (await api.get("/users/alice")).status == 200  # the step is used up; the mock answers again


async def test_rate_limit_per_environment(api):
    await load(api, {"name": "limited", "env": api.key, "rate_limit": {"requests": 2, "per_seconds": 60}, "steps": []})
    first = await api.get("/users/alice")
    assert first.headers["X-RateLimit-Limit"] == "2" and first.headers["X-RateLimit-Remaining"] == "1"
    await api.get("/users/alice")
    refused = await api.get("/users/alice")
    assert refused.status == 429 and refused.body["error"]["code"] == "rate_limited"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60 and refused.headers["X-RateLimit-Remaining"] == "0"
    other = await api.get("/users/alice", key="ak_unlimited")
    assert other.status == 200 and "X-RateLimit-Limit" not in other.headers


async def test_rate_limit_option_and_frigade_format(make_api):
    api = await make_api(key="api_private_mau", rate_limit="1/30")
    assert (await api.get("/v1/flows")).status == 200
    refused = await api.get("/v1/flows")
    assert refused.status == 429 and refused.body["statusCode"] == 429 and "maximum allowed MAUs" in refused.body["message"]
    assert int(refused.headers["Retry-After"]) >= 1


async def test_rate_limit_window_slides(make_api):
    api = await make_api(rate_limit="2/0.3")
    assert [(await api.get("/users/alice")).status for _ in range(3)] == [200, 200, 429]
    await asyncio.sleep(0.35)
    assert (await api.get("/users/alice")).status == 200


async def test_concurrency_limit_answers_503(make_api):
    api = await make_api(concurrency_limit=1)
    await load(api, {"name": "hold", "steps": [{"request": {"path": "/users/alice"}, "response": {"delay_ms": 300}}]})
    slow = asyncio.ensure_future(api.get("/users/alice"))
    await asyncio.sleep(0.1)
    busy = await api.get("/users/bob")
    assert busy.status == 503 and busy.body["error"]["code"] == "service_unavailable" and busy.headers["Retry-After"] == "1"
    assert (await slow).status == 200
    assert (await api.get("/users/bob")).status == 200


async def test_latency_option(make_api):
    api = await make_api(latency_ms=150)
    started = time.monotonic()
    await api.ok("GET", "/users/alice")
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    await api.ok("GET", "/__mock/health")  # the control API is not slowed
    assert time.monotonic() - started < 0.15


async def test_scenarios_scoped_to_one_environment(api):
    await load(api, {"name": "mine", "env": "ak_someoneelse", "steps": [{"request": {"path": "/users/alice"}, "response": {"status": 500}}]})
    assert (await api.get("/users/alice")).status == 200
    assert (await api.get("/users/alice", key="ak_someoneelse")).status == 500


async def test_webhook_steps_reach_a_receiver(api, receiver):
    sub = await api.ok("POST", "/webhook_subscriptions", json={"url": receiver.url, "topics": ["user.updated"]})
    await load(api, {"name": "hook", "steps": [
        {"request": {"method": "POST", "path": "/users", "body": {"id": "user-1"}}},
        {"webhook": {"topic": "user.updated", "object": {"ref": "/users/user-1"}, "updated_attributes": {"email_verified": True}}}]})
    await api.post("/users", json={"id": "user-1", "attributes": {"plan": "pro"}})
    await settle(api)
    [(headers, raw)] = receiver.received
    verify_signature(raw, headers["Userflow-Signature"], sub["secret"])
    notification = receiver.bodies()[0]
    assert notification["topic"] == "user.updated" and notification["data"]["object"]["attributes"] == {"plan": "pro"}
    assert notification["data"]["updated_attributes"] == {"email_verified": True}
    assert (await verify(api, "hook")).status == 200


async def test_webhook_steps_at_the_start_fire_on_load(make_api, receiver):
    api = await make_api(key="api_private_hookenv")
    await api.ok("POST", "/__mock/frigade/webhooks", status=201, json={"env": "hookenv", "url": receiver.url, "secret": "k"})
    await load(api, {"name": "frigade-hook", "env": "api_private_hookenv", "steps": [
        {"webhook": {"api": "frigade", "type": "flowResponse.completedFlow", "flow": "flow_checklist", "user_id": "u9"}}]})
    await settle(api)
    [payload] = receiver.bodies()
    assert payload["type"] == "flowResponse.completedFlow" and payload["flow"]["id"] == 101 and payload["user"]["id"] == "u9"


async def test_webhook_step_for_a_missing_object_fails_verify(api):
    await load(api, {"name": "missing", "env": api.key, "steps": [{"webhook": {"topic": "user.created", "object": {"ref": "/users/ghost"}}}]})
    reply = await verify(api, "missing")
    assert reply.status == 409 and "step 1 (webhook user.created): webhook not sent: No user with id 'ghost'" in reply.body["report"]


async def test_webhook_at_the_start_without_env_is_rejected(api):
    reply = await api.call("POST", "/__mock/scenarios", json={"name": "x", "steps": [{"webhook": {"topic": "user.created",
                                                                                                  "object": {"ref": "/users/a"}}}]})
    assert reply.status == 400 and "needs the scenario's env" in reply.body["error"]["message"]


async def test_record_replay_verify(api):
    await api.post("/users", json={"id": "rec-1", "attributes": {"plan": "pro"}})
    sub = await api.ok("POST", "/webhook_subscriptions", json={"url": "https://example.com/h", "topics": ["user"]})
    await api.get(f"/webhook_subscriptions/{sub['id']}")
    await api.get("/users", params={"limit": "2"})
    recorded = await api.ok("GET", "/__mock/requests", params={"format": "scenario", "env": api.key}, schema="scenario.json")
    assert recorded["steps"][0] == {"request": {"method": "POST", "path": "/users", "body": {"id": "rec-1", "attributes": {"plan": "pro"}}}}
    assert recorded["steps"][2]["request"]["path"] == "/webhook_subscriptions/{id}"  # generated ids become patterns
    assert recorded["steps"][3]["request"]["query"] == {"limit": "2"}
    await api.ok("POST", "/__mock/reset")
    await load(api, recorded)
    await api.post("/users", json={"id": "rec-1", "attributes": {"plan": "pro"}})
    sub = await api.ok("POST", "/webhook_subscriptions", json={"url": "https://example.com/h", "topics": ["user"]})
    await api.get(f"/webhook_subscriptions/{sub['id']}")
    assert (await verify(api, "recorded")).status == 409  # one call still missing
    await api.get("/users", params={"limit": "2"})
    assert (await verify(api, "recorded")).status == 200


@pytest.mark.parametrize("name", ["rate-limited-retry", "webhook-after-signup", "flaky-network"])
async def test_example_scenarios_lint(name):
    from mockserver.documents import check
    from mockserver.schemas import Schemas
    text = (EXAMPLES / f"{name}.yaml").read_text()
    assert check(name, text, Schemas()) == (yaml.safe_load(text), [])


async def test_example_rate_limited_retry(api):
    await load(api, yaml.safe_load((EXAMPLES / "rate-limited-retry.yaml").read_text()))
    refused = await api.post("/users", json={"id": "user-1"})
    assert refused.status == 429 and refused.headers["Retry-After"] == "1" and refused.body["error"]["code"] == "rate_limited"
    assert (await api.get("/users/user-1")).status == 404  # the refused request changed nothing
    assert (await api.post("/users", json={"id": "user-1"})).status == 200
    assert (await verify(api, "rate-limited-retry")).status == 200


async def test_example_webhook_after_signup(api, receiver):
    await api.ok("POST", "/webhook_subscriptions", json={"url": receiver.url, "topics": ["user"]})
    await load(api, yaml.safe_load((EXAMPLES / "webhook-after-signup.yaml").read_text()))
    await api.post("/users", json={"id": "user-1", "attributes": {"email": "new@example.com"}})
    await settle(api)
    assert [n["topic"] for n in receiver.bodies()] == ["user.created", "user.updated"]
    assert receiver.bodies()[1]["data"]["updated_attributes"] == {"email_verified": True}
    await api.get("/users/user-1")
    assert (await verify(api, "webhook-after-signup")).status == 200


async def test_example_flaky_network(api):
    await load(api, yaml.safe_load((EXAMPLES / "flaky-network.yaml").read_text()))
    headers = {"Authorization": f"Bearer {api.key}"}
    with pytest.raises(aiohttp.ClientOSError):
        await api.client.get("/users/alice", headers=headers)
    assert (await api.get("/users/alice")).status == 200  # slow, but answered
    assert [(await api.get("/groups")).status for _ in range(3)] == [503, 503, 200]
    assert (await verify(api, "flaky-network")).status == 200
