"""Proxy mode (DESIGN section 12), over real sockets: `mockserver serve --upstream API=URL` in front of a real service.

'The real service' is a second mockserver with another seed; a small aiohttp server answers with bodies that break the
schemas. Forwarding, drift, record -> replay -> verify, and an upstream that is down or hung, each through subprocess
servers on loopback.
"""
import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass

import pytest
import yaml
from aiohttp import web

from conftest import assert_valid
from mockserver.settings import settings_from
from test_shared import Sidecar

UF_KEY = "ak_proxytest1"
FRIGADE_KEY = "api_public_proxytest1"


@dataclass
class Answer:
    status: int
    headers: dict
    raw: bytes

    @property
    def body(self):
        return json.loads(self.raw) if self.raw else None


def call(url, method="GET", body=None, key=UF_KEY, headers=None, raw=None) -> Answer:
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    sent = {**({"Authorization": f"Bearer {key}"} if key else {}), **({"Content-Type": "application/json"} if data else {}),
            **(headers or {})}
    request = urllib.request.Request(url, method=method, data=data, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:
            return Answer(resp.status, dict(resp.headers), resp.read())
    except urllib.error.HTTPError as err:
        return Answer(err.code, dict(err.headers), err.read())


def control(url, path, schema, method="GET", body=None, status=200):
    """A control API call; its answer is checked against its schema."""
    answer = call(url + path, method, body, key=None)
    assert answer.status == status, answer.raw
    assert_valid(schema, answer.body)
    return answer.body


def mockserver(*args, env=None):
    return subprocess.run([sys.executable, "-m", "mockserver", *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def real():
    """The real service: another mockserver, with another seed."""
    server = Sidecar("--seed", "7", "--quiet")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def half(real):
    """Userflow proxied to the real service, Frigade mocked."""
    server = Sidecar("--upstream", f"userflow={real.url}", "--quiet")
    yield server
    server.stop()


# -- forwarding ---------------------------------------------------------------------------------------------------------

def test_the_upstream_answers_through_the_proxy_byte_for_byte(real, half):
    for path in ("/users/alice", "/users?limit=2&order_by=-created_at", "/groups/acme?expand=", "/users/nobody"):
        direct, proxied = call(real.url + path), call(half.url + path)
        assert (proxied.status, proxied.headers["Content-Type"]) == (direct.status, direct.headers["Content-Type"]), path
        if direct.status == 200:
            assert proxied.raw == direct.raw, path
        else:  # an error carries the upstream's own request id, in its body and as X-Upstream-Request-Id
            assert proxied.body["error"]["code"] == "not_found"
            assert proxied.body["error"]["request_id"] == proxied.headers["X-Upstream-Request-Id"] != proxied.headers["X-Request-Id"]
        assert proxied.headers["X-Request-Id"].startswith("req_")

    created = call(half.url + "/users", "POST", {"id": "via-proxy", "attributes": {"plan": "pro"}})
    assert created.status == 200 and created.body["id"] == "via-proxy"
    assert call(real.url + "/users/via-proxy").body == created.body  # it was made in the real service
    [seen] = control(real.url, f"/__mock/requests?env={UF_KEY}&path=/users&method=POST", "control/requests.json")["requests"]
    headers = seen["request"]["headers"]
    assert headers["Authorization"] == f"Bearer {UF_KEY}"  # the client's own key reached the upstream
    assert headers["Host"] == real.url.removeprefix("http://") and headers["Via"].startswith("1.1 mockserver-")
    assert seen["request"]["body"] == {"id": "via-proxy", "attributes": {"plan": "pro"}}


def test_one_api_proxied_while_the_other_is_mocked(real, half):
    assert call(half.url + "/users/alice").status == 200  # Userflow goes to the real service
    flows = call(half.url + "/v1/public/flows", key=FRIGADE_KEY)
    assert flows.status == 200 and flows.body["data"][0]["slug"] == "flow_checklist"
    assert control(real.url, "/__mock/requests?env=proxytest1", "control/requests.json")["requests"] == []  # Frigade never left the proxy
    assert [e["api"] for e in control(half.url, "/__mock/requests?env=proxytest1", "control/requests.json")["requests"]] == ["frigade"]
    drift = control(half.url, "/__mock/drift", "control/drift.json")
    assert drift["upstreams"] == {"userflow": real.url} and drift["checked"] >= 1 and drift["violations"] == []
    clean = mockserver("drift", "--url", half.url)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert clean.stdout.startswith("no drift: ") and f"(userflow -> {real.url})" in clean.stdout



def test_scenarios_answer_in_front_of_the_upstream(real, half):
    """A scripted answer is given without calling the upstream; a scripted status without a body applies to its answer."""
    scenario = {"name": "in-front", "env": "ak_proxyscript1", "steps": [
        {"request": {"method": "GET", "path": "/users/alice"}, "response": {"status": 503, "headers": {"Retry-After": "2"}}},
        {"request": {"method": "GET", "path": "/users/bob"}, "response": {"status": 202, "headers": {"X-Scripted": "yes"}}}]}
    control(half.url, "/__mock/scenarios", "control/scenario_progress.json", "POST", scenario, status=201)
    try:
        refused = call(half.url + "/users/alice", key="ak_proxyscript1")
        assert (refused.status, refused.headers["Retry-After"], refused.body["error"]["code"]) == (503, "2", "service_unavailable")
        bob = call(half.url + "/users/bob", key="ak_proxyscript1")
        assert (bob.status, bob.headers["X-Scripted"], bob.raw) == (202, "yes", call(real.url + "/users/bob").raw)
        upstream_saw = control(real.url, "/__mock/requests?env=ak_proxyscript1", "control/requests.json")["requests"]
        assert [e["path"] for e in upstream_saw] == ["/users/bob"]
        assert control(half.url, "/__mock/scenarios/in-front/verify", "control/scenario_verify.json", "POST")["met"] is True
    finally:
        control(half.url, "/__mock/scenarios/in-front", "control/scenario_deleted.json", "DELETE")

# -- an upstream that breaks the contract ---------------------------------------------------------------------------------

ALICE_BROKEN = {"id": "alice", "object": "user", "attributes": "none", "created_at": "yesterday", "groups": None, "memberships": None,
                "plan": "pro"}
BROKEN = {  # path below /base -> (status, body)
    "/users/alice": (200, ALICE_BROKEN),
    "/users": (200, {"object": "list", "data": [{**ALICE_BROKEN, "id": 5, "attributes": {}, "created_at": "2024-01-01T00:00:00.000+00:00",
                                                 "plan": None}], "url": "/users"}),
    "/users/ghost": (404, {"message": "Not found", "secret": "s3cr3t-value"}),
    "/internal/stats": (200, {"requests": 1}),
    "/v1/public/flows": (200, {"data": [], "offset": "0", "limit": 100}),
    "/v1/flows/5": (200, b"<html>maintenance</html>"),
}


class BrokenUpstream:
    """An aiohttp server on loopback, in a thread of its own, answering BROKEN below /base; it keeps what it received."""

    def __init__(self):
        self.received: list[tuple[str, str, dict, bytes]] = []
        self.loop = asyncio.new_event_loop()
        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}"
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.received.append((request.method, request.raw_path, dict(request.headers), raw))
        status, body = BROKEN.get(request.path.removeprefix("/base"), (200, {"received": len(raw)}))
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, content_type="text/html")
        return web.json_response(body, status=status, headers={"X-Upstream-Thing": "kept"})

    def stop(self):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def broken():
    upstream = BrokenUpstream()
    proxy = Sidecar("--upstream", f"userflow={upstream.url}/base", "--upstream", f"frigade={upstream.url}/base/", "--quiet")
    yield upstream, proxy
    proxy.stop()
    upstream.stop()


def test_drift_lists_each_violation_with_its_path_and_rule(broken):
    upstream, proxy = broken
    alice = call(proxy.url + "/users/alice?expand=memberships", headers={"X-Client-Trace": "t-1", "Connection": "keep-alive, X-Drop"})
    assert alice.status == 200 and alice.body == ALICE_BROKEN and alice.headers["X-Upstream-Thing"] == "kept"  # passed back unchanged
    method, raw_path, headers, _ = upstream.received[-1]
    assert (method, raw_path) == ("GET", "/base/users/alice?expand=memberships")
    assert headers["Authorization"] == f"Bearer {UF_KEY}" and headers["X-Client-Trace"] == "t-1"
    assert headers["Host"] == upstream.url.removeprefix("http://") and headers["Accept-Encoding"] == "identity"
    assert call(proxy.url + "/users").status == 200
    assert call(proxy.url + "/users/ghost").status == 404
    assert call(proxy.url + "/internal/stats").body == {"requests": 1}
    assert call(proxy.url + "/v1/public/flows", key=FRIGADE_KEY).status == 200
    maintenance = call(proxy.url + "/v1/flows/5", key="api_private_proxytest1")
    assert maintenance.raw == b"<html>maintenance</html>" and maintenance.headers["Content-Type"].startswith("text/html")

    drift = control(proxy.url, "/__mock/drift", "control/drift.json")
    found = {(v["operation"], v["status"], v["json_path"], v["rule"]) for v in drift["violations"]}
    assert found == {
        ("GET /users/{user_id}", 200, "$", "additionalProperties"),
        ("GET /users/{user_id}", 200, "$.attributes", "type"),
        ("GET /users/{user_id}", 200, "$.created_at", "pattern"),
        ("GET /users", 200, "$.has_more", "required"),
        ("GET /users", 200, "$.next_page_url", "required"),
        ("GET /users", 200, "$.data[0]", "additionalProperties"),
        ("GET /users", 200, "$.data[0].id", "type"),
        ("GET /users/{user_id}", 404, "$", "additionalProperties"),
        ("GET /users/{user_id}", 404, "$.error", "required"),
        ("GET /internal/stats", 200, "$", "operation"),
        ("GET /v1/public/flows", 200, "$.offset", "type"),
        ("GET /v1/flows/{flow}", 200, "$", "json"),
    }
    by_path = {(v["operation"], v["json_path"]): v for v in drift["violations"]}
    assert by_path["GET /users/{user_id}", "$.created_at"]["value"] == "yesterday"
    assert by_path["GET /users", "$.data[0].id"]["value"] == 5 and by_path["GET /users", "$.has_more"]["value"] is None
    assert by_path["GET /users/{user_id}", "$.attributes"]["message"] == "$.attributes: 'none' is not of type 'object' (rule: type)"
    assert "s3cr3t-value" not in json.dumps(drift)  # a secret-named field is never shown
    assert (drift["checked"], drift["drifted"], drift["count"], drift["dropped"]) == (6, 6, 12, 0)

    report = mockserver("drift", "--url", proxy.url)
    print(report.stdout)  # shown with -s: the README's example output
    assert report.returncode == 1, report.stderr
    lines = report.stdout.splitlines()
    assert lines[2].startswith("userflow GET /users/{user_id} -> 200: $.created_at: 'yesterday' does not match ")
    assert lines[-1] == (f"drift: 12 violations in 6 of 6 upstream answers checked "
                         f"(userflow -> {upstream.url}/base, frigade -> {upstream.url}/base)")


def test_request_bodies_reach_the_upstream_whole_and_within_the_body_limit(broken):
    upstream, proxy = broken
    big = json.dumps({"name": "bulk", "user_id": "alice", "attributes": {"blob": "x" * 700_000}}).encode()
    answer = call(proxy.url + "/events", "POST", raw=big)
    assert answer.body == {"received": len(big)} and upstream.received[-1][3] == big
    assert upstream.received[-1][2]["Content-Length"] == str(len(big))
    before = len(upstream.received)
    too_big = call(proxy.url + "/events", "POST", raw=b" " * (1024 * 1024 + 1))
    assert too_big.status == 413 and too_big.body["error"]["code"] == "request_too_large" and len(upstream.received) == before
    keyless = call(proxy.url + "/users/alice", key=None)  # the key is checked here: nothing without one leaves the machine
    assert keyless.status == 401 and len(upstream.received) == before


def test_drift_clears_and_shows_in_the_inspector(broken, browser):
    from selenium.webdriver.common.by import By
    from test_inspector import click, wait_for

    upstream, proxy = broken
    call(proxy.url + "/users/alice")
    browser.get(proxy.url + "/__mock/")
    click(browser, "nav button", "Drift")
    rows = wait_for(browser, lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, "#drift-rows tr")] or None)
    assert any("GET /users/{user_id}" in r and "$.created_at" in r and "pattern" in r for r in rows), rows
    summary = wait_for(browser, lambda d: d.find_element(By.ID, "drift-summary").text)
    assert "upstream answers checked" in summary
    cleared = control(proxy.url, "/__mock/drift", "control/cleared.json", "DELETE")
    assert cleared["deleted"] >= 3
    assert control(proxy.url, "/__mock/drift", "control/drift.json")["violations"] == []
    after = mockserver("drift", "--url", proxy.url)
    assert after.returncode == 0 and after.stdout.startswith("no drift: 0 upstream answers checked")


# -- record the real service, replay it offline ----------------------------------------------------------------------------

SESSION = [  # (method, path, body, key)
    ("POST", "/users", {"id": "rec-1", "attributes": {"plan": "pro", "signed_up_at": "2024-05-01T00:00:00Z"}}, UF_KEY),
    ("GET", "/users/rec-1", None, UF_KEY),
    ("GET", "/users?limit=2&order_by=created_at", None, UF_KEY),
    ("GET", "/users/nobody", None, UF_KEY),
    ("GET", "/v1/public/flows", None, "api_public_recording1"),
    ("POST", "/v1/public/flowStates", {"userId": "u-rec", "flowSlug": "flow_checklist", "stepId": "step-1",
                                       "actionType": "STARTED_STEP"}, "api_public_recording1"),
    ("POST", "/webhook_subscriptions", {"url": "http://127.0.0.1:9/hooks", "topics": ["user"]}, UF_KEY),
]


def test_record_the_real_service_then_replay_it_offline_and_verify(real, tmp_path):
    recording = tmp_path / "real-session.yaml"
    proxy = Sidecar("--upstream", f"userflow={real.url}", "--upstream", f"frigade={real.url}", "--record", str(recording), "--quiet")
    try:
        seen = [call(proxy.url + path, method, body, key) for method, path, body, key in SESSION]
        live = control(proxy.url, "/__mock/requests?format=scenario", "scenario.json")
    finally:
        proxy.stop()
    assert [a.status for a in seen] == [200, 200, 200, 404, 200, 201, 200]
    secret = seen[-1].body["secret"]
    text = recording.read_text()
    print(text)  # shown with -s
    for credential in (UF_KEY, "api_public_recording1", secret, "Authorization"):
        assert credential not in text
    scenario = yaml.safe_load(text)
    assert scenario == live  # GET /__mock/requests?format=scenario gives the same
    assert scenario["steps"][-1]["response"]["body"]["secret"] == "[redacted]"
    assert mockserver("lint", str(recording)).returncode == 0

    replay = Sidecar("--seed", "3", "--scenario", str(recording), "--quiet")  # offline: no upstream
    try:
        again = [call(replay.url + path, method, body, key) for method, path, body, key in SESSION]
        for step, before, after in zip(scenario["steps"], seen, again):
            assert after.status == before.status and after.body == step["response"]["body"]
        assert [a.body for a in again[:-1]] == [a.body for a in seen[:-1]]  # the real answers, as they were
        verified = mockserver("verify", "--url", replay.url)
        assert verified.returncode == 0, verified.stdout
        assert "Scenario 'recorded': every expectation was met (7 steps)." in verified.stdout
    finally:
        replay.stop()


# -- an upstream that is down, hung, or this server itself -----------------------------------------------------------------

def test_an_unreachable_or_hung_upstream_is_a_502_in_each_apis_format():
    closed = free_port()
    with socket.socket() as hung:  # accepts connections (the backlog) and never answers
        hung.bind(("127.0.0.1", 0))
        hung.listen(8)
        hung_url = f"http://127.0.0.1:{hung.getsockname()[1]}/v1-base"
        proxy = Sidecar("--upstream", f"userflow=http://127.0.0.1:{closed}", "--upstream", f"frigade={hung_url}",
                        "--upstream-timeout", "0.5", "--quiet")
        try:
            down = call(proxy.url + "/users/alice")
            assert down.status == 502
            assert_valid("userflow/response.json", down.body)
            assert down.body["error"]["code"] == "bad_gateway" and down.body["error"]["request_id"] == down.headers["X-Request-Id"]
            assert down.body["error"]["message"].startswith(f"The upstream http://127.0.0.1:{closed} cannot be reached: ")
            slow = call(proxy.url + "/v1/public/flows", key=FRIGADE_KEY)
            assert slow.status == 502
            assert_valid("frigade/response.json", slow.body)
            assert slow.body == {"statusCode": 502, "error": "Bad Gateway",
                                 "message": f"The upstream {hung_url} did not answer within 0.5 s (--upstream-timeout)"}
            assert control(proxy.url, "/__mock/drift", "control/drift.json")["checked"] == 0  # only the upstream's own answers are checked
        finally:
            proxy.stop()


def test_an_upstream_that_leads_back_to_the_server_is_refused():
    port = free_port()
    proxy = Sidecar("--port", str(port), "--upstream", f"userflow=http://localhost:{port}", "--quiet")
    try:
        loop = call(proxy.url + "/users/alice")
        assert loop.status == 508 and loop.body["error"]["code"] == "loop_detected"
        assert "leads back to it" in loop.body["error"]["message"]
    finally:
        proxy.stop()


@pytest.mark.parametrize("given, problem", [
    ("graphql=http://127.0.0.1:9", "expected API=URL with API userflow or frigade"),
    ("userflow=ftp://127.0.0.1:9", "expected an http:// or https:// URL with a host"),
    ("userflow=http://", "expected an http:// or https:// URL with a host"),
    ("userflow=http://me:pw@api.example.com", "no user name or password"),
    ("userflow=http://127.0.0.1:99999", "expected an http:// or https:// URL with a host"),
    ("userflow=http://api.example.com?x=1", "no query or fragment"),
    ("userflow=http://a.example.com,userflow=http://b.example.com", "userflow is given twice"),
])
def test_upstream_settings_are_checked(given, problem):
    with pytest.raises(ValueError, match="^MOCKSERVER_UPSTREAM: .*" + problem.replace("?", r"\?")):
        settings_from({}, environ={"MOCKSERVER_UPSTREAM": given})


def test_a_bad_upstream_flag_stops_start_up_naming_it():
    result = mockserver("serve", "--port", "0", "--upstream", "userflow=api.userflow.com")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.strip() == ("mockserver: error: --upstream: userflow: expected an http:// or https:// URL with a host, "
                                     "got 'api.userflow.com'")
    settings = settings_from({"upstreams": ["userflow=https://api.userflow.com/", "Frigade=https://api.frigade.com/base"]}, environ={})
    assert settings.upstream == {"userflow": "https://api.userflow.com", "frigade": "https://api.frigade.com/base"}


def test_drift_says_when_nothing_was_checked_or_it_cannot_ask(real):
    unproxied = mockserver("drift", "--url", real.url)
    assert unproxied.returncode == 1
    assert unproxied.stdout.strip() == f"{real.url} proxies no API (it runs without --upstream): nothing was checked"
    nowhere = mockserver("drift", "--url", f"http://127.0.0.1:{free_port()}")
    assert nowhere.returncode == 2 and nowhere.stderr.startswith("mockserver drift: cannot reach http://127.0.0.1:")
    unnamed = mockserver("drift", env={"MOCKSERVER_URL": ""})
    assert unnamed.returncode == 2 and "Pass --url URL or set MOCKSERVER_URL" in unnamed.stderr


def test_a_recording_keeps_no_credential_anywhere():
    """The redaction rules, on journal entries as the control API gives them."""
    from mockserver.recording import scenario_from_journal

    def entry(api, path, body, answer, fault=None, headers=None):
        return {"env": "e", "api": api, "method": "POST", "path": path, "query": "api_key=k&limit=2", "request_id": "req_1", "fault": fault,
                "request": {"headers": {"authorization": "Bearer ak_longsecretkey1"}, "body": body},
                "response": {"status": None if fault else 200, "headers": headers or {}, "body": answer}}
    scenario = scenario_from_journal([
        entry("userflow", "/users", {"id": "u", "token": "t0ps3cret"}, {"note": "made with ak_longsecretkey1", "hook": {"Secret": "s"}},
              headers={"Retry-After": "1", "Set-Cookie": "session=abc", "X-Webhook-Signature": "sig"}),
        entry("frigade", "/v1/public/users", None, None, fault="connection_reset"),
        entry("userflow", "/users", None, {"truncated": True, "size": 70000, "text": "{"}),
        entry("userflow", "/groups", {"id": "g"}, {"id": "g"}),
    ], replayed={"userflow": "http://x", "frigade": "http://y"})
    first, faulted, clipped, _ = scenario["steps"]
    assert first == {"request": {"method": "POST", "path": "/users", "query": {"limit": "2"}, "body": {"id": "u"}},
                     "response": {"status": 200, "headers": {"Retry-After": "1"},
                                  "body": {"note": "made with [redacted]", "hook": {"Secret": "[redacted]"}}}}
    assert faulted["response"] == {"fault": "connection_reset"} and "response" not in clipped
    assert "ak_longsecretkey1" not in json.dumps(scenario) and "t0ps3cret" not in json.dumps(scenario)
    mocked = scenario_from_journal([entry("userflow", "/groups", {"id": "g"}, {"id": "g"})])  # no API proxied: the mock answers
    assert mocked["steps"] == [{"request": {"method": "POST", "path": "/groups", "query": {"limit": "2"}, "body": {"id": "g"}}}]
