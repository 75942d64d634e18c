"""Concurrency, webhook receivers that fail, shutdown during deliveries, and the security options."""
import asyncio
import json
import signal
import socket
import subprocess
import sys

from aiohttp import web

from conftest import SMALL, Receiver
from mockserver.keys import DELIVERER
from test_cli import call, start


async def settle(api):
    await api.client.app[DELIVERER].idle()


# -- concurrency ---------------------------------------------------------------------------------

async def test_concurrent_adds_end_at_the_exact_sum(api):
    replies = await asyncio.gather(*(api.post("/users", json={"id": "counter", "attributes": {"n": {"add": i}}}) for i in range(1, 301)))
    assert all(r.status == 200 for r in replies)
    assert (await api.ok("GET", "/users/counter"))["attributes"]["n"] == sum(range(1, 301))


async def test_concurrent_creates_of_one_id_make_one_object_and_one_notification(api, receiver):
    await api.ok("POST", "/webhook_subscriptions", json={"url": receiver.url, "topics": ["user"]})
    replies = await asyncio.gather(*(api.post("/users", json={"id": "once", "attributes": {"plan": "pro"}}) for _ in range(100)))
    assert {r.body["created_at"] for r in replies} == {replies[0].body["created_at"]}
    await settle(api)
    assert [n["topic"] for n in receiver.bodies()] == ["user.created"]
    page = await api.ok("GET", "/users", params={"limit": "100"})
    assert [u["id"] for u in page["data"]].count("once") == 1


async def test_parallel_environments_never_see_each_other_under_load(api):
    keys = [f"ak_parallel{i}" for i in range(20)]

    async def work(key):
        for n in range(10):
            await api.post("/users", json={"id": f"{key}-{n}"}, key=key)
        return key, await api.ok("GET", "/users", params={"limit": "100", "order_by": "-created_at"}, key=key)

    for key, page in await asyncio.gather(*(work(k) for k in keys)):
        mine = [u["id"] for u in page["data"] if u["id"].startswith("ak_parallel")]
        assert sorted(mine) == sorted(f"{key}-{n}" for n in range(10))


async def test_a_full_journal_drops_the_oldest_entries_and_keeps_serving(make_api):
    api = await make_api(journal_size=10)
    replies = await asyncio.gather(*(api.get(f"/users/u{i}") for i in range(300)))
    assert all(r.status == 404 for r in replies)
    journal = await api.ok("GET", "/__mock/requests")
    assert journal["count"] == 10 and journal["dropped"] == 290


# -- webhook receivers that fail, then recover ---------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_receiver_that_is_down_gets_everything_once_it_is_up(make_api):
    api = await make_api(webhook_retry_delay=0.1, webhook_retry_factor=2, webhook_max_attempts=6)
    port = free_port()
    await api.ok("POST", "/webhook_subscriptions", json={"url": f"http://127.0.0.1:{port}/hooks", "topics": ["user.created"]})
    for n in range(5):
        await api.post("/users", json={"id": f"late-{n}"})
    await asyncio.sleep(0.35)  # a few attempts fail: nothing listens yet
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await settle(api)
    finally:
        await runner.cleanup()
    assert sorted(n["data"]["object"]["id"] for n in receiver.bodies()) == [f"late-{n}" for n in range(5)]
    attempts = (await api.ok("GET", "/__mock/webhooks"))["attempts"]
    assert any(a["outcome"] == "retrying" and "Connect" in a["error"] for a in attempts)
    assert sum(a["outcome"] == "delivered" for a in attempts) == 5


async def test_slow_and_resetting_receivers_are_retried_until_delivered(make_api):
    api = await make_api(webhook_retry_delay=0.05, webhook_max_attempts=5, webhook_timeout=0.3)
    calls = {"n": 0}

    async def flaky(request):
        calls["n"] += 1
        await request.read()
        if calls["n"] == 1:
            await asyncio.sleep(1)  # slower than the timeout
        elif calls["n"] == 2:
            request.transport.abort()  # connection reset
            raise asyncio.CancelledError()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hooks", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        await api.ok("POST", "/webhook_subscriptions", json={"url": f"http://127.0.0.1:{port}/hooks", "topics": ["user"]})
        await api.post("/users", json={"id": "survivor"})
        await settle(api)
    finally:
        await runner.cleanup()
    outcomes = [(a["attempt"], a["outcome"], (a["error"] or "")[:20]) for a in (await api.ok("GET", "/__mock/webhooks"))["attempts"]]
    assert outcomes[0][:2] == (1, "retrying") and outcomes[0][2].startswith("timed out")
    assert outcomes[1][:2] == (2, "retrying") and outcomes[-1][:2] == (3, "delivered")


def test_sigterm_during_deliveries_keeps_state_and_reports_what_was_pending(tmp_path):
    state = tmp_path / "state.bin"
    port = free_port()
    with socket.socket() as holder:  # accepts connections and never answers: every delivery hangs
        holder.bind(("127.0.0.1", port))
        holder.listen(16)
        proc, base = start("--port", "0", "--fixtures", str(SMALL), "--state", str(state), "--webhook-timeout", "30",
                           "--webhook-shutdown-grace", "0.5")
        call(f"{base}/webhook_subscriptions", "POST", {"url": f"http://127.0.0.1:{port}/h", "topics": ["user"]})
        assert call(f"{base}/users", "POST", {"id": "pending-hook"})[0] == 200
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    log = proc.stderr.read()
    assert "webhook" in log and "abandoned at shutdown" in log
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--state", str(state))
    try:
        assert call(f"{base}/users/pending-hook")[0] == 200
    finally:
        proc.terminate()
        proc.wait(10)


# -- security ------------------------------------------------------------------------------------

async def test_admin_token_protects_the_control_api(make_api):
    api = await make_api(admin_token="s3cret-token")
    assert (await api.get("/__mock/health")).status == 200  # health stays open for container checks
    for method, path in (("GET", "/__mock/requests"), ("POST", "/__mock/reset"), ("GET", "/__mock/scenarios"), ("GET", "/__mock/webhooks"),
                         ("GET", "/__mock/openapi.json")):
        reply = await api.call(method, path, key="wrong")
        assert reply.status == 401 and "admin token" in reply.body["error"]["message"], path
        assert (await api.call(method, path, headers={"Authorization": "Bearer s3cret-token"})).status in (200, 201)
    assert (await api.get("/users/alice")).status == 200  # the APIs keep their own keys


def test_verify_passes_the_admin_token():
    proc, base = start("--port", "0", "--fixtures", str(SMALL), "--admin-token", "tok")
    try:
        denied = subprocess.run([sys.executable, "-m", "mockserver", "verify", "--url", base], capture_output=True, text=True, timeout=30)
        assert denied.returncode != 0
        allowed = subprocess.run([sys.executable, "-m", "mockserver", "verify", "--url", base, "--admin-token", "tok"],
                                 capture_output=True, text=True, timeout=30)
        assert allowed.returncode == 1 and "no scenarios are loaded" in allowed.stdout  # asked, and nothing to verify
    finally:
        proc.terminate()
        proc.wait(10)


async def test_webhook_allow_list(make_api):
    api = await make_api(webhook_allow=("http://127.0.0.1:*", "https://hooks.example.com/*"))
    assert (await api.post("/webhook_subscriptions", json={"url": "http://127.0.0.1:9/x", "topics": ["*"]})).status == 200
    assert (await api.post("/webhook_subscriptions", json={"url": "https://hooks.example.com/a", "topics": ["*"]})).status == 200
    reply = await api.post("/webhook_subscriptions", json={"url": "http://169.254.169.254/latest", "topics": ["*"]})
    assert reply.status == 400 and "is not an allowed webhook target" in reply.body["error"]["message"]
    sub = (await api.ok("GET", "/webhook_subscriptions"))["data"][0]
    reply = await api.call("PATCH", f"/webhook_subscriptions/{sub['id']}", json={"url": "http://10.0.0.1/x"})
    assert reply.status == 400
    reply = await api.call("POST", "/__mock/frigade/webhooks", json={"env": "x", "url": "http://evil.example/h"})
    assert reply.status == 400 and "not an allowed webhook target" in reply.body["error"]["message"]


def test_webhook_allow_list_applies_to_fixtures(tmp_path):
    fixture = tmp_path / "f.yaml"
    fixture.write_text("frigade:\n  webhooks:\n    - {url: 'http://evil.example/h'}\n")
    result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--fixtures", str(fixture),
                             "--webhook-allow", "http://127.0.0.1:*"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "frigade.webhooks[0].url: 'http://evil.example/h' is not an allowed webhook target" in result.stderr


def test_binds_loopback_by_default():
    proc, base = start("--fixtures", str(SMALL), "--port", "0")
    try:
        assert base.startswith("http://127.0.0.1:")
    finally:
        proc.terminate()
        proc.wait(10)


async def test_yaml_is_loaded_safely(api, tmp_path):
    marker = tmp_path / "pwned"
    payload = f"!!python/object/apply:os.system ['touch {marker}']"
    reply = await api.call("POST", "/__mock/scenarios", data=f"name: x\nsteps: []\nextra: {payload}\n",
                           headers={"Content-Type": "application/yaml"})
    assert reply.status == 400 and not marker.exists()
    fixture = tmp_path / "f.yaml"
    fixture.write_text(f"users: {payload}\n")
    result = subprocess.run([sys.executable, "-m", "mockserver", "lint", str(fixture)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and not marker.exists()


async def test_no_file_path_from_a_request_is_opened(api):
    for body in ("/etc/passwd", "name: x\nsteps: /etc/passwd\n"):
        reply = await api.call("POST", "/__mock/scenarios", data=body, headers={"Content-Type": "application/yaml"})
        assert reply.status == 400 and "root:" not in json.dumps(reply.body)
    reply = await api.get("/__mock/requests", params={"format": "../../etc/passwd"})
    assert reply.status == 400
