"""Webhook subscriptions and real delivery to a receiver on loopback."""
import asyncio
import hashlib
import hmac
import json
import time

import pytest

from conftest import assert_valid
from mockserver.keys import DELIVERER


def verify_signature(raw: bytes, header: str, secret: str) -> None:
    """The reference's verification steps, written out independently of the server's signer."""
    pairs = dict(part.split("=", 1) for part in header.split(","))
    t, signature = pairs["t"], pairs["v1"]
    assert int(time.time()) - int(t) <= 300
    signed_payload = t + "." + raw.decode("utf-8")
    assert signature == hmac.new(secret.encode("utf-8"), signed_payload.encode("utf-8"), hashlib.sha256).hexdigest()


async def subscribe(api, receiver, topics, **extra):
    return await api.ok("POST", "/webhook_subscriptions", json={"url": receiver.url, "topics": topics, **extra})


async def settle(api):
    await api.client.app[DELIVERER].idle()


async def test_subscription_crud(api):
    created = await api.ok("POST", "/webhook_subscriptions", json={"url": "https://example.com/hooks", "topics": ["user", "event"]})
    assert created["secret"].startswith("whsec_") and created["disabled"] is False and created["api_version"] == "2020-01-03"
    fetched = await api.ok("GET", f"/webhook_subscriptions/{created['id']}")
    assert "secret" not in fetched and fetched == {k: v for k, v in created.items() if k != "secret"}
    updated = await api.ok("PATCH", f"/webhook_subscriptions/{created['id']}", json={"disabled": True, "topics": ["*"]})
    assert updated["disabled"] is True and updated["topics"] == ["*"] and "secret" not in updated
    listed = await api.ok("GET", "/webhook_subscriptions")
    assert listed["data"] == [updated]
    deleted = await api.ok("DELETE", f"/webhook_subscriptions/{created['id']}")
    assert deleted == {"id": created["id"], "object": "webhook_subscription", "deleted": True}
    assert await api.ok("DELETE", f"/webhook_subscriptions/{created['id']}") == deleted
    assert (await api.get(f"/webhook_subscriptions/{created['id']}")).status == 404
    assert (await api.call("PATCH", f"/webhook_subscriptions/{created['id']}", json={"disabled": False})).status == 404


async def test_subscriptions_order_by_url(api):
    for url in ("https://b.example/h", "https://a.example/h", "https://c.example/h"):
        await api.ok("POST", "/webhook_subscriptions", json={"url": url, "topics": ["*"]})
        await asyncio.sleep(0.002)  # created_at has milliseconds: each a later one
    page = await api.ok("GET", "/webhook_subscriptions", params={"order_by": "url"})
    assert [s["url"] for s in page["data"]] == ["https://a.example/h", "https://b.example/h", "https://c.example/h"]
    page = await api.ok("GET", "/webhook_subscriptions", params={"order_by": "-created_at", "limit": "1"})
    assert [s["url"] for s in page["data"]] == ["https://c.example/h"]


@pytest.mark.parametrize("body, message", [
    ({"url": "ftp://example.com", "topics": ["user"]}, "url: must be an http:// or https:// URL"),
    ({"url": "example.com/hooks", "topics": ["user"]}, "url: must be an http:// or https:// URL"),
    ({"url": "http://\\=&\"0l@F6]H", "topics": ["user"]}, "is not a URL (Invalid IPv6 URL)"),
    ({"url": "http://[::1/hook", "topics": ["user"]}, "is not a URL (Invalid IPv6 URL)"),
    ({"url": "https://example.com", "topics": []}, "topics: must list at least one topic"),
    ({"url": "https://example.com", "topics": ["users.created"]}, "topics[0]: is not a webhook topic"),
    ({"url": "https://example.com"}, "topics: is required"),
    ({"topics": ["user"]}, "url: is required"),
    ({"url": "https://example.com", "topics": ["user"], "api_version": "2019-01-01"}, "api_version: must be 2020-01-03"),
])
async def test_subscription_validation(api, body, message):
    reply = await api.post("/webhook_subscriptions", json=body)
    assert reply.status == 400 and message in reply.body["error"]["message"], reply.body
    assert (await api.ok("GET", "/webhook_subscriptions"))["data"] == []


async def test_user_created_is_delivered_signed(api, receiver):
    sub = await subscribe(api, receiver, ["user"])
    await api.ok("POST", "/users", json={"id": "new-user", "attributes": {"name": "New"}})
    await settle(api)
    [(headers, raw)] = receiver.received
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["User-Agent"].startswith("Userflow/1.0 (")
    verify_signature(raw, headers["Userflow-Signature"], sub["secret"])
    notification = json.loads(raw)
    assert_valid("userflow/webhook_notification.json", notification)
    assert notification["topic"] == "user.created" and notification["api_version"] == "2020-01-03"
    assert notification["data"] == {"object": await api.ok("GET", "/users/new-user")}


async def test_user_updated_carries_only_what_changed(api, receiver):
    await subscribe(api, receiver, ["user.updated"])
    await api.ok("POST", "/users", json={"id": "alice", "attributes": {"plan": "enterprise", "name": "Alice Adams",
                                                                     "project_count": {"add": 2}, "tags": None, "new_attr": 1}})
    await api.ok("POST", "/users", json={"id": "alice", "attributes": {"plan": "enterprise"}})  # no change: no notification
    await settle(api)
    [notification] = receiver.bodies()
    assert notification["topic"] == "user.updated"
    assert notification["data"]["previous_attributes"] == {"plan": "pro", "project_count": 12, "tags": ["beta", "api"], "new_attr": None}
    assert notification["data"]["updated_attributes"] == {"plan": "enterprise", "project_count": 14, "tags": None, "new_attr": 1}


async def test_groups_created_through_embedding_notify(api, receiver):
    await subscribe(api, receiver, ["*"])
    await api.ok("POST", "/users", json={"id": "zed", "memberships": [{"group": {"id": "fresh", "attributes": {"name": "Fresh"}}},
                                                                      {"group": {"id": "acme", "attributes": {"plan": "enterprise"}}}]})
    await api.ok("POST", "/groups", json={"id": "fresh", "attributes": {"name": "Fresher"}})
    await settle(api)
    topics = sorted((n["topic"], n["data"]["object"]["id"]) for n in receiver.bodies())
    assert topics == [("group.created", "fresh"), ("group.updated", "acme"), ("group.updated", "fresh"), ("user.created", "zed")]
    updated = next(n for n in receiver.bodies() if n["topic"] == "group.updated" and n["data"]["object"]["id"] == "fresh")
    assert updated["data"]["updated_attributes"] == {"name": "Fresher"}


@pytest.mark.parametrize("topics, delivered", [
    (["*"], True), (["event"], True), (["event.tracked"], True), (["event.tracked.invite_sent"], True),
    (["event.tracked.other"], False), (["user", "group"], False), (["user.created"], False),
])
async def test_event_topics_match_by_namespace(api, receiver, topics, delivered):
    await subscribe(api, receiver, topics)
    event = await api.ok("POST", "/events", json={"user_id": "alice", "name": "invite_sent", "attributes": {"count": 2}})
    await settle(api)
    assert receiver.bodies() == ([] if not delivered else [receiver.bodies()[0]])
    if delivered:
        assert receiver.bodies()[0]["topic"] == "event.tracked.invite_sent"
        assert receiver.bodies()[0]["data"]["object"] == event


async def test_disabled_subscriptions_get_nothing(api, receiver):
    sub = await subscribe(api, receiver, ["*"])
    await api.ok("PATCH", f"/webhook_subscriptions/{sub['id']}", json={"disabled": True})
    await api.ok("POST", "/users", json={"id": "quiet"})
    await settle(api)
    assert receiver.received == []
    await api.ok("PATCH", f"/webhook_subscriptions/{sub['id']}", json={"disabled": False})
    await api.ok("POST", "/users", json={"id": "loud"})
    await settle(api)
    assert [n["data"]["object"]["id"] for n in receiver.bodies()] == ["loud"]


async def test_failed_deliveries_are_retried_with_fresh_signatures(make_api, receiver):
    api = await make_api(webhook_retry_delay=0.01, webhook_max_attempts=4)
    sub = await subscribe(api, receiver, ["user"])
    receiver.failures = 2
    await api.ok("POST", "/users", json={"id": "retry-me"})
    await settle(api)
    assert len(receiver.received) == 3
    for headers, raw in receiver.received:
        verify_signature(raw, headers["Userflow-Signature"], sub["secret"])
    log = await api.ok("GET", "/__mock/webhooks", params={"env": api.key})
    assert [(a["attempt"], a["status"], a["outcome"]) for a in log["attempts"]] == [
        (1, 500, "retrying"), (2, 500, "retrying"), (3, 200, "delivered")]
    assert log["pending"] == 0 and log["attempts"][0]["body"]["topic"] == "user.created"
    assert log["attempts"][2]["headers"]["Userflow-Signature"].startswith("t=")


async def test_delivery_gives_up_after_the_attempt_cap(make_api, receiver):
    api = await make_api(webhook_retry_delay=0.01, webhook_max_attempts=3)
    await subscribe(api, receiver, ["user"])
    receiver.failures = 10
    await api.ok("POST", "/users", json={"id": "doomed"})
    await settle(api)
    log = await api.ok("GET", "/__mock/webhooks")
    assert [a["outcome"] for a in log["attempts"]] == ["retrying", "retrying", "failed"]


async def test_unreachable_and_slow_receivers_are_logged_as_errors(make_api, receiver, unused_tcp_port):
    api = await make_api(webhook_retry_delay=0.01, webhook_max_attempts=2, webhook_timeout=0.2)
    await api.ok("POST", "/webhook_subscriptions", json={"url": f"http://127.0.0.1:{unused_tcp_port}/x", "topics": ["user"]})
    await subscribe(api, receiver, ["group"])
    receiver.hold = asyncio.Event()  # never released: every attempt times out
    await api.ok("POST", "/users", json={"id": "u", "groups": [{"id": "g-new"}]})
    await settle(api)
    attempts = (await api.ok("GET", "/__mock/webhooks"))["attempts"]
    refused = [a for a in attempts if a["topic"] == "user.created"]
    slow = [a for a in attempts if a["topic"] == "group.created"]
    assert [a["outcome"] for a in refused] == ["retrying", "failed"] and all("ClientConnectorError" in a["error"] for a in refused)
    assert [a["error"] for a in slow] == ["timed out after 0.2s"] * 2


async def test_delivery_never_delays_the_response(api, receiver):
    await subscribe(api, receiver, ["user"])
    receiver.hold = asyncio.Event()
    await api.ok("POST", "/users", json={"id": "fast"})  # answered while the receiver still holds the delivery
    assert len(api.client.app[DELIVERER].pending) == 1
    receiver.hold.set()
    await settle(api)
    assert len(receiver.received) == 1


async def test_pending_deliveries_are_reported_at_shutdown(api, receiver):
    await subscribe(api, receiver, ["user"])
    receiver.hold = asyncio.Event()
    await api.ok("POST", "/users", json={"id": "late"})
    await api.client.app[DELIVERER].close(grace=0.05)
    attempts = api.client.app[DELIVERER].query()
    assert [(a["outcome"], a["error"]) for a in attempts] == [("abandoned", "server shut down before delivery completed")]


async def test_environments_do_not_share_subscriptions(api, receiver):
    await subscribe(api, receiver, ["*"])
    await api.ok("POST", "/users", json={"id": "elsewhere"}, key="ak_otherenv")
    await settle(api)
    assert receiver.received == []


async def test_unknown_user_in_an_event_is_created_and_notified(api, receiver):
    await subscribe(api, receiver, ["*"])
    await api.ok("POST", "/events", json={"user_id": "ghost", "name": "signed_up"})
    await settle(api)
    assert sorted(n["topic"] for n in receiver.bodies()) == ["event.tracked.signed_up", "user.created"]


def verify_frigade_signature(raw: bytes, header: str, secret: str) -> None:
    """Frigade: base64 HMAC-SHA256 of the compact JSON of the payload's `data`."""
    import base64
    data = json.loads(raw)["data"]
    expected = base64.b64encode(hmac.new(secret.encode(), json.dumps(data, separators=(",", ":")).encode(), hashlib.sha256).digest())
    assert header == expected.decode()


async def test_frigade_webhooks_from_the_control_api(make_api, receiver):
    api = await make_api(key="api_private_hooks1", webhook_retry_delay=0.01)
    hook = await api.ok("POST", "/__mock/frigade/webhooks", status=201, json={
        "env": "hooks1", "url": receiver.url, "secret": "s3cret", "events": ["flowResponse.completedStep", "flowResponse.startedFlow"]})
    assert hook["id"].startswith("whk_") and hook["secret"] == "s3cret"
    assert (await api.ok("GET", "/__mock/frigade/webhooks", params={"env": "hooks1"}))["webhooks"] == [
        {k: v for k, v in hook.items() if k != "env"}]
    receiver.failures = 1
    for action, step in (("STARTED_FLOW", None), ("STARTED_STEP", "step-1"), ("COMPLETED_STEP", "step-1")):
        await api.ok("POST", "/v1/public/flowStates", status=201, key="api_public_hooks1", json={
            "userId": "u1", "groupId": "g1", "flowSlug": "flow_checklist", "actionType": action, "stepId": step, "data": {"k": 1}})
        await settle(api)  # one at a time, so the failure lands on the first
    bodies = [json.loads(raw) for _, raw in receiver.received]
    assert [b["type"] for b in bodies] == ["flowResponse.startedFlow", "flowResponse.startedFlow", "flowResponse.completedStep"]
    for headers, raw in receiver.received:
        verify_frigade_signature(raw, headers["X-Webhook-Signature"], "s3cret")
        assert_valid("frigade/webhook_event.json", json.loads(raw))
    completed = next(b for b in bodies if b["type"] == "flowResponse.completedStep")
    assert completed["flow"] == {"id": 101, "name": "Onboarding checklist"} and completed["user"]["id"] == "u1"
    assert completed["data"]["stepId"] == "step-1" and completed["data"]["groupId"] == "g1" and completed["data"]["data"] == '{"k":1}'
    log = await api.ok("GET", "/__mock/webhooks", params={"env": "hooks1"})
    assert [(a["api"], a["topic"], a["attempt"], a["outcome"]) for a in log["attempts"]] == [
        ("frigade", "flowResponse.startedFlow", 1, "retrying"), ("frigade", "flowResponse.startedFlow", 2, "delivered"),
        ("frigade", "flowResponse.completedStep", 1, "delivered")]
    assert (await api.ok("DELETE", f"/__mock/frigade/webhooks/{hook['id']}", params={"env": "hooks1"}))["deleted"] is True


async def test_frigade_webhooks_declared_in_fixtures(make_api, receiver, tmp_path):
    from conftest import SMALL
    (tmp_path / "a.yaml").write_text(SMALL.read_text())
    (tmp_path / "b.yaml").write_text(f"frigade:\n  webhooks:\n    - {{url: '{receiver.url}', secret: fixture-secret}}\n")
    api = await make_api(key="api_private_fx", fixtures=tmp_path)
    await api.ok("POST", "/v1/public/flowStates", status=201, json={"userId": "u", "flowSlug": "flow_announcement", "actionType": "SKIPPED_FLOW"})
    await settle(api)
    [(headers, raw)] = receiver.received
    verify_frigade_signature(raw, headers["X-Webhook-Signature"], "fixture-secret")
    assert json.loads(raw)["type"] == "flowResponse.skippedFlow"


async def test_frigade_webhook_control_api_validates(api):
    reply = await api.call("POST", "/__mock/frigade/webhooks", json={"env": "x", "url": "not a url"})
    assert reply.status == 400 and "url: must be an http:// or https:// URL" in reply.body["error"]["message"]
    reply = await api.call("POST", "/__mock/frigade/webhooks", json={"url": "https://example.com"})
    assert reply.status == 400 and reply.body["error"]["message"].startswith("env: is required")


# -- timing as documented -----------------------------------------------------------------------------------------------

def test_the_default_timeout_is_the_documented_15_seconds_and_the_documented_schedule_is_one_flag_away():
    """The reference: "If Userflow does not receive a 2xx response status code within a timeout of 15 seconds, Userflow will
    retry the request using exponential backoff. Userflow will give up after 3 days." frigade-notes.md: "Up to 5 retries
    with exponential backoff"."""
    from mockserver.settings import Settings, settings_from
    from mockserver.webhooks import retry_policies

    fast = retry_policies(Settings())
    assert {api: (p.first_delay, p.max_attempts, p.timeout) for api, p in fast.items()} == {
        "userflow": (0.1, 5, 15.0), "frigade": (0.1, 6, 15.0)}
    documented = retry_policies(settings_from({"webhook_schedule": "documented"}, environ={}))
    userflow = documented["userflow"]
    waits = [userflow.first_delay * userflow.factor ** n for n in range(userflow.max_attempts - 1)]
    assert 2.5 * 86400 < sum(waits) <= 3 * 86400 < sum(waits) + waits[-1] * userflow.factor  # the last attempt inside 3 days
    assert documented["frigade"].max_attempts == 6 and documented["frigade"].first_delay == 60
    mixed = retry_policies(settings_from({"webhook_schedule": "documented", "webhook_max_attempts": 2}, environ={}))
    assert {p.max_attempts for p in mixed.values()} == {2}  # a flag given beats the schedule


async def test_a_receiver_slower_than_before_but_within_15_seconds_gets_one_post(make_api, receiver):
    """A receiver that answers in 7 s used to get duplicates (a 5 s timeout); scaled down here: the timeout is the
    setting's, and an answer within it is one delivery."""
    api = await make_api(webhook_timeout=1.0, webhook_retry_delay=0.01)
    await subscribe(api, receiver, ["user"])
    receiver.delay = 0.6
    await api.ok("POST", "/users", json={"id": "patient"})
    await settle(api)
    assert len(receiver.received) == 1
    assert [a["outcome"] for a in (await api.ok("GET", "/__mock/webhooks"))["attempts"]] == ["delivered"]


async def test_frigade_webhooks_retry_five_times_with_a_product_user_agent(make_api, receiver):
    """frigade-notes.md: "Up to 5 retries with exponential backoff" — six attempts in all."""
    api = await make_api(key="api_private_retries", webhook_retry_delay=0.001)
    await api.ok("POST", "/__mock/frigade/webhooks", status=201, json={"env": "retries", "url": receiver.url})
    receiver.failures = 10
    await api.ok("POST", "/v1/public/flowStates", status=201, key="api_public_retries",
                 json={"userId": "u1", "flowSlug": "flow_checklist", "actionType": "STARTED_FLOW"})
    await settle(api)
    assert len(receiver.received) == 6
    assert {headers["User-Agent"] for headers, _ in receiver.received} == {"Frigade-Webhooks/1.0 (+https://frigade.com)"}


async def test_disabled_on_create_is_honoured(api, receiver):
    sub = await subscribe(api, receiver, ["user"], disabled=True)
    assert sub["disabled"] is True and (await api.ok("GET", f"/webhook_subscriptions/{sub['id']}"))["disabled"] is True
    await api.ok("POST", "/users", json={"id": "quiet"})
    await settle(api)
    assert receiver.received == []
    patched = await api.ok("PATCH", f"/webhook_subscriptions/{sub['id']}", json={"disabled": None, "url": None})
    assert patched["disabled"] is True and patched["url"] == receiver.url  # null: not given


async def test_runtime_ids_and_secrets_are_unique_across_environments_and_resets(make_api, receiver):
    """Every environment's first subscription used to get the same secret, and notification ids repeated, so a receiver
    that de-duplicates by notification id dropped other tests' notifications. Still reproducible run to run."""
    async def run(api):
        seen = []
        for key in ("ak_one", "ak_two", "ak_one"):
            sub = await api.ok("POST", "/webhook_subscriptions", json={"url": receiver.url, "topics": ["*"]}, key=key)
            user = await api.ok("POST", "/users", json={"id": "u", "groups": [{"id": "g"}]}, params={"expand": "memberships"}, key=key)
            event = await api.ok("POST", "/events", json={"user_id": "u", "name": "e"}, key=key)
            seen.append((sub["id"], sub["secret"], user["memberships"][0]["id"], event["id"]))
            await api.ok("POST", "/__mock/reset", json={"env": key})
        await settle(api)
        return seen, [n["id"] for n in receiver.bodies()]

    seen, notifications = await run(await make_api())
    for column in zip(*seen):
        assert len(set(column)) == 3, column  # one, two, and one again after its reset: all different
    assert len(notifications) == len(set(notifications)) == 3 * 3  # user.created, group.created, event.tracked.e, each time
    receiver.received.clear()
    assert await run(await make_api()) == (seen, notifications)  # the same seed and calls: the same ids


async def test_a_poller_reads_only_new_attempts_with_since_and_the_newest_with_limit(make_api, receiver):
    api = await make_api(webhook_log_size=3)
    await subscribe(api, receiver, ["user"])
    for i in range(5):
        await api.ok("POST", "/users", json={"id": f"poll-{i}"})
        await settle(api)
    log = await api.ok("GET", "/__mock/webhooks", schema="control/webhooks.json")
    assert [a["seq"] for a in log["attempts"]] == [3, 4, 5] and log["dropped"] == 2
    assert [a["body"]["data"]["object"]["id"] for a in log["attempts"]] == ["poll-2", "poll-3", "poll-4"]
    newer = await api.ok("GET", "/__mock/webhooks", params={"since": "4"}, schema="control/webhooks.json")
    assert [a["seq"] for a in newer["attempts"]] == [5]
    newest = await api.ok("GET", "/__mock/webhooks", params={"limit": "2"}, schema="control/webhooks.json")
    assert [a["seq"] for a in newest["attempts"]] == [4, 5]
    for bad in ({"limit": "0"}, {"since": "-1"}, {"limit": "two"}):
        reply = await api.call("GET", "/__mock/webhooks", params=bad)
        assert reply.status == 400 and next(iter(bad)) in reply.body["error"]["message"]


async def test_each_missing_field_is_named_once(api):
    reply = await api.post("/webhook_subscriptions", json={})
    assert reply.status == 400
    assert reply.body["error"]["message"] == ("Invalid request body: url: is required (rule: required); "
                                              "topics: is required (rule: required)")
