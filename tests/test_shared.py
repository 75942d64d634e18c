"""One sidecar, many tenants, one of them hostile (DESIGN section 11).

Each test reproduces an abuse from outside, against a real server process, while a bystander (another tenant)
keeps calling the API: the abuse is refused or absorbed, the server's memory stays within its budgets, the
bystander's requests keep succeeding quickly, and nothing is lost or poisoned.
"""
import asyncio
import gzip
import json
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager
from functools import partial
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer

import aiohttp
import pytest

from conftest import SMALL, raw_request

BUDGETS = ["--journal-bytes", "4M", "--webhook-queue-bytes", "256K", "--webhook-log-bytes", "1M", "--webhook-reply-bytes", "64K",
           "--connection-timeout", "1", "--max-connections", "64", "--webhook-timeout", "0.5", "--webhook-retry-delay", "0.05",
           "--webhook-max-attempts", "2", "--scenario-bytes", "256K"]
STRICT_JSON = {"parse_constant": lambda name: (_ for _ in ()).throw(ValueError(f"{name} in a response"))}


class Sidecar:
    """`mockserver serve` in a process of its own: its URL, its resident memory, its log."""

    def __init__(self, *args):
        self.proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--fixtures", str(SMALL), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        assert line.startswith("mockserver listening on "), self.proc.stderr.read()
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])
        self.log: list[str] = []  # read as it comes, as a terminal or a CI log would: a full pipe would block the server
        self.reader = threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True)
        self.reader.start()

    def rss_mb(self) -> float:
        for line in open(f"/proc/{self.proc.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise AssertionError("no VmRSS")

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.reader.join(10)
        return "".join(self.log)


@pytest.fixture(scope="module")
def sidecar():
    server = Sidecar(*BUDGETS)
    yield server
    server.stop()


@asynccontextmanager
async def bystander(url: str):
    """Another tenant, calling every 10 ms from before the abuse starts until it ends; then its calls are checked:
    every one answered, none slow."""
    latencies, failures, stop = [], [], asyncio.Event()

    async def run():
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    async with session.get(f"{url}/users/alice", headers={"Authorization": "Bearer ak_bystander"},
                                           timeout=aiohttp.ClientTimeout(total=10)) as resp:
                        await resp.read()
                        if resp.status == 200:
                            latencies.append((time.perf_counter() - started) * 1000)
                        else:
                            failures.append(resp.status)
                except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                    failures.append(repr(exc))
                await asyncio.sleep(0.01)

    task = asyncio.create_task(run())
    await asyncio.sleep(0.05)
    yield latencies
    stop.set()
    await task
    assert not failures, failures[:5]
    assert latencies and max(latencies) < 500, f"the bystander waited {max(latencies):.0f} ms (median {statistics.median(latencies):.1f} ms)"


async def call(method, url, *, key="ak_hostile", raw=None, **kw):
    headers = {"Authorization": f"Bearer {key}", **kw.pop("headers", {})}
    async with aiohttp.ClientSession() as session:
        async with session.request(method, url, headers=headers, data=raw, **kw) as resp:
            return resp.status, json.loads(await resp.read() or b"null", **STRICT_JSON)


async def journal(url, **query):
    return (await call("GET", f"{url}/__mock/requests", params=query))[1]


# -- a web page on another origin --------------------------------------------------------------------------------------

async def test_a_web_page_elsewhere_cannot_reset_load_or_read(sidecar):
    """Any web page could POST /__mock/reset and wipe every environment, or load scenarios as text/plain or form
    bodies. Now a request whose Origin is not the server's own is refused, unless it carries the admin token."""
    await call("POST", f"{sidecar.url}/users", json={"id": "keep-me"}, key="ak_victim")
    evil = {"Origin": "http://evil.example"}
    for method, path, body, kind in (("POST", "/__mock/reset", b"", "text/plain"), ("POST", "/__mock/scenarios", b"name: x\nsteps: []\n", "text/plain"),
                                     ("POST", "/__mock/scenarios", b"name=x", "application/x-www-form-urlencoded"),
                                     ("GET", "/__mock/requests", None, None), ("DELETE", "/__mock/requests", None, None)):
        status, reply = await call(method, f"{sidecar.url}{path}", raw=body, headers={**evil, **({"Content-Type": kind} if kind else {})})
        assert status == 403 and "answers only its own origin" in reply["error"]["message"], (method, path)
    assert (await call("GET", f"{sidecar.url}/users/keep-me", key="ak_victim"))[0] == 200  # nothing was reset
    assert (await call("GET", f"{sidecar.url}/__mock/scenarios"))[1]["scenarios"] == []
    own = {"Origin": sidecar.url}  # the inspector page, on the server's own origin
    assert (await call("GET", f"{sidecar.url}/__mock/requests", headers=own, params={"limit": "1"}))[0] == 200


async def test_in_a_real_browser_a_page_elsewhere_resets_nothing(sidecar, browser, tmp_path):
    """What a browser really sends: a page on another origin fires no-cors fetches, then submits a text/plain form."""
    await call("POST", f"{sidecar.url}/users", json={"id": "still-here"}, key="ak_browservictim")
    (tmp_path / "evil.html").write_text(f"""<!doctype html><body>
<form id="f" method="POST" action="{sidecar.url}/__mock/reset" enctype="text/plain"><input name="x" value="y"></form>
<script>fetch("{sidecar.url}/__mock/reset", {{method: "POST", mode: "no-cors", body: ""}})
  .then(() => fetch("{sidecar.url}/__mock/scenarios", {{method: "POST", mode: "no-cors", body: "name: pwned\\nsteps: []\\n"}}))
  .finally(() => document.getElementById("f").submit());</script></body>""")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    page = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=page.serve_forever, daemon=True).start()
    try:
        browser.get(f"http://127.0.0.1:{page.server_address[1]}/evil.html")
        deadline = time.monotonic() + 10
        while not browser.current_url.startswith(sidecar.url) and time.monotonic() < deadline:  # the form went last
            await asyncio.sleep(0.1)
        assert browser.current_url.startswith(sidecar.url), "the page did not run"
        assert "answers only its own origin" in browser.page_source
    finally:
        page.shutdown()
    assert (await call("GET", f"{sidecar.url}/users/still-here", key="ak_browservictim"))[0] == 200
    assert [s["name"] for s in (await call("GET", f"{sidecar.url}/__mock/scenarios"))[1]["scenarios"]] == []


# -- webhooks aimed at the server itself -------------------------------------------------------------------------------

async def test_a_webhook_can_never_call_this_server():
    """A subscription pointed at the server's own /__mock/reset reset everyone, and `--webhook-allow
    'http://127.0.0.1:*'` was bypassed by `http://127.0.0.1:1@otherhost/`."""
    server = Sidecar(*BUDGETS, "--host", "0.0.0.0", "--webhook-allow", "http://127.0.0.1:*", "--webhook-allow", "http://192.0.2.*")
    try:
        await call("POST", f"{server.url.replace('0.0.0.0', '127.0.0.1')}/users", json={"id": "survivor"}, key="ak_other")
        base = f"http://127.0.0.1:{server.port}"
        for target, problem in ((f"http://127.0.0.1:{server.port}/__mock/reset", "is this mockserver itself"),
                                (f"http://2130706433:{server.port}/__mock/reset", "is this mockserver itself"),
                                (f"http://[::ffff:127.0.0.1]:{server.port}/__mock/reset", "is this mockserver itself"),
                                ("http://127.0.0.1:1@evil.example/", "has a user name or password"),
                                ("http://evil.example/", "is not an allowed webhook target")):
            status, reply = await call("POST", f"{base}/webhook_subscriptions", json={"url": target, "topics": ["*"]})
            assert status == 400 and problem in reply["error"]["message"], (target, reply)
        # the machine's own address on its network: allowed by the pattern and not loopback, but still this server
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))
            address = probe.getsockname()[0]
        assert not address.startswith("127.")
        status, _ = await call("POST", f"{base}/webhook_subscriptions", json={"url": f"http://{address}:{server.port}/__mock/reset",
                                                                              "topics": ["user.created"]})
        assert status == 200
        await call("POST", f"{base}/users", json={"id": "trigger"})
        await asyncio.sleep(1.0)
        attempts = (await call("GET", f"{base}/__mock/webhooks", params={"env": "ak_hostile"}))[1]["attempts"]
        assert attempts and all(a["status"] == 403 for a in attempts), attempts  # each refused by the server itself
        assert (await call("GET", f"{base}/users/survivor", key="ak_other"))[0] == 200
    finally:
        server.stop()


# -- poison --------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw", [b'{"id": "p", "attributes": {"name": "\\ud800"}}', b'{"id": "\\udfff"}', b'{"id": "p", "attributes": {"n": NaN}}',
                                 b'{"id": "p", "attributes": {"n": Infinity}}', b'{"id": "p", "attributes": {"n": 1e400, "big": 1180591620717411303424}}',
                                 b'{"id": "p", "attributes": {"\\ud83d": 1}}'])
async def test_bodies_that_cannot_be_answered_back_are_refused_and_poison_nothing(sidecar, raw):
    """A lone surrogate was stored and made every later read, list and journal a 500; NaN, Infinity and 1e400 made the
    journal invalid JSON, and 1e400 beside a 2**70 integer came back as a bare Infinity."""
    status, reply = await call("POST", f"{sidecar.url}/users", raw=raw, headers={"Content-Type": "application/json"}, key="ak_poison")
    assert status == 400 and reply["error"]["code"] == "invalid_request", reply
    assert (await call("GET", f"{sidecar.url}/users/p", key="ak_poison"))[0] == 404
    assert (await call("GET", f"{sidecar.url}/users", key="ak_poison", params={"limit": "100"}))[0] == 200
    entries = (await journal(sidecar.url, env="ak_poison"))["requests"]  # parsed with NaN and Infinity refused
    assert entries[-3]["request"]["body"] is not None


# -- memory --------------------------------------------------------------------------------------------------------------

async def test_the_journal_stays_within_its_byte_budget(sidecar):
    """1,000 requests with 1 MB bodies grew the journal by 968 MB: it was bounded in entries, not bytes."""
    before = sidecar.rss_mb()
    blob = b'{"id": "' + b"x" * 1_000_000 + b'"'  # 1 MB, not JSON: refused, and journaled
    async with bystander(sidecar.url):
        async with aiohttp.ClientSession() as session:
            for _ in range(150):
                async with session.post(f"{sidecar.url}/users", data=blob, headers={"Authorization": "Bearer ak_big",
                                                                                    "Content-Type": "application/json"}) as resp:
                    assert resp.status == 400
    grown = sidecar.rss_mb() - before
    assert grown < 40, f"the server grew {grown:.0f} MB for 150 MB of bodies (journal budget 4 MB)"
    listing = await journal(sidecar.url, env="ak_big")
    assert listing["requests"][-1]["request"]["body"]["truncated"] is True and listing["requests"][-1]["request"]["body"]["size"] > 999_999


def receiver(behaviour):
    """An HTTP receiver on loopback in a thread; `behaviour(handler)` answers each POST."""
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            behaviour(self)

        def log_message(self, *args):
            pass
    class Server(ThreadingHTTPServer):
        request_queue_size = 128  # the listen backlog: the server connects up to 8 at a time
        daemon_threads = True
    server = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/hook"


async def test_a_huge_reply_is_read_only_up_to_its_budget(sidecar):
    """Receivers' replies were read whole: four 300 MB replies took the server to 1.5 GB."""
    def huge(handler):
        handler.send_response(200)
        handler.send_header("Content-Length", str(300 * 1024 * 1024))
        handler.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(300 * 16):
                handler.wfile.write(chunk)
        except OSError:
            pass  # the server stopped reading: what the budget is for
    server, url = receiver(huge)
    try:
        before = sidecar.rss_mb()
        await call("POST", f"{sidecar.url}/webhook_subscriptions", json={"url": url, "topics": ["user"]}, key="ak_reply")
        async with bystander(sidecar.url):
            for n in range(4):
                await call("POST", f"{sidecar.url}/users", json={"id": f"r{n}"}, key="ak_reply")
            await asyncio.sleep(1.5)
        attempts = (await call("GET", f"{sidecar.url}/__mock/webhooks", params={"env": "ak_reply"}))[1]["attempts"]
        assert [a["status"] for a in attempts] == [200] * 4
        assert sidecar.rss_mb() - before < 30
    finally:
        server.shutdown()


async def test_a_hung_receiver_holds_its_own_queue_not_the_server(sidecar):
    """50 subscriptions to a receiver that never answers, then 2,000 events: 655 MB and a p99 of 2.8 s for everyone."""
    hold = socket.socket()
    hold.bind(("127.0.0.1", 0))
    hold.listen(1024)  # accepts (in the kernel) and never answers
    url = f"http://127.0.0.1:{hold.getsockname()[1]}/hook"
    try:
        for _ in range(50):
            await call("POST", f"{sidecar.url}/webhook_subscriptions", json={"url": url, "topics": ["event"]}, key="ak_hung")
        before = sidecar.rss_mb()
        async with bystander(sidecar.url):
            async with aiohttp.ClientSession() as session:
                for n in range(400):  # 20,000 notifications
                    async with session.post(f"{sidecar.url}/events", json={"user_id": "alice", "name": "flood"},
                                            headers={"Authorization": "Bearer ak_hung"}) as resp:
                        assert resp.status == 200
        log = (await call("GET", f"{sidecar.url}/__mock/webhooks", params={"env": "ak_hung", "limit": "5"}))[1]
        assert log["pending"] * 250 <= 256 * 1024 + 50_000  # what waits fits the queue's 256K
        assert any(a["outcome"] == "dropped" for a in log["attempts"]) and len(log["attempts"]) == 5
        assert sidecar.rss_mb() - before < 60
    finally:
        hold.close()


async def test_the_webhook_log_answers_within_its_budget(sidecar):
    """GET /__mock/webhooks re-encoded every attempt: a 1.3 GB answer and a 15.6 s stall."""
    async with bystander(sidecar.url):
        for _ in range(5):
            started = time.perf_counter()
            status, log = await call("GET", f"{sidecar.url}/__mock/webhooks")
            assert status == 200 and (time.perf_counter() - started) < 1.0
    assert sum(len(json.dumps(a["body"])) for a in log["attempts"]) < 1.5 * 1024 * 1024  # --webhook-log-bytes 1M


async def test_the_control_api_makes_no_environment_for_a_name_no_key_can_reach():
    server = Sidecar(*BUDGETS, "--api-key", "ak_only", "--api-key", "api_private_allowed")
    try:
        assert (await call("GET", f"{server.url}/__mock/frigade/webhooks", params={"env": "anyone"}))[1]["webhooks"] == []
        status, reply = await call("POST", f"{server.url}/__mock/frigade/webhooks", json={"env": "anyone", "url": "http://127.0.0.1:9/h"})
        assert status == 400 and "no key this server accepts" in reply["error"]["message"]
        assert (await call("POST", f"{server.url}/__mock/frigade/webhooks", json={"env": "allowed", "url": "http://127.0.0.1:9/h"}))[0] == 201
    finally:
        server.stop()


# -- work per request ----------------------------------------------------------------------------------------------------

async def test_appending_to_a_long_list_is_linear(sidecar):
    """append was quadratic: 40,000 items into 40,000 took 11.2 s with the event loop blocked."""
    await call("POST", f"{sidecar.url}/users", json={"id": "lists", "attributes": {"tags": [f"a{i}" for i in range(40_000)]}}, key="ak_lists")
    async with bystander(sidecar.url):
        status, user = await call("POST", f"{sidecar.url}/users", key="ak_lists",
                                  json={"id": "lists", "attributes": {"tags": {"append": [f"b{i}" for i in range(40_000)]}}})
    assert status == 200 and len(user["attributes"]["tags"]) == 80_000


async def test_an_alias_bomb_is_refused_at_once(sidecar):
    """A 582-byte scenario with YAML aliases stalled every matching request 7.5 s."""
    bomb = "name: bomb\nsteps:\n  - request: {path: /users, body: &a0 [x, x, x, x, x, x, x, x, x]}\n"
    bomb += "".join(f"  - request: {{path: /users, body: &a{i} [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]}}\n"
                    for i in range(1, 9))
    async with bystander(sidecar.url):
        status, reply = await call("POST", f"{sidecar.url}/__mock/scenarios", raw=bomb.encode())
    assert status == 400 and "anchors and aliases" in reply["error"]["message"]


async def test_a_large_scenario_loads_without_stalling_anyone_and_a_larger_one_is_refused(sidecar):
    """Loading a 1 MB scenario took 8.1 s with the loop blocked."""
    steps = "".join(f"  - request: {{method: POST, path: /users, body: {{id: user-{n}, attributes: {{plan: pro, n: {n}}}}}}}\n"
                    for n in range(2500))
    text = f"name: large\norder: any\nsteps:\n{steps}"
    assert 200_000 < len(text) < 256 * 1024
    async with bystander(sidecar.url):
        status, progress = await call("POST", f"{sidecar.url}/__mock/scenarios", raw=text.encode())
    assert status == 201 and len(progress["steps"]) == 2500
    await call("DELETE", f"{sidecar.url}/__mock/scenarios/large")
    status, reply = await call("POST", f"{sidecar.url}/__mock/scenarios", raw=(text + steps[:60_000]).encode())
    assert status == 413 and "--scenario-bytes" in reply["error"]["message"]


# -- connections ---------------------------------------------------------------------------------------------------------

async def held(port: int, data: bytes, trickle: bytes = b"", limit: float = 4.0) -> tuple[float, bytes]:
    """Connect, send `data` (then `trickle` every 0.2 s), and wait until the server closes: (seconds, what it sent)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    started, received = time.monotonic(), b""
    try:
        while time.monotonic() - started < limit:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.2)
            except asyncio.TimeoutError:
                writer.write(trickle)
                continue
            if not chunk:
                break
            received += chunk
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started, received


async def test_idle_slow_and_trickling_connections_time_out(sidecar):
    """Idle, slow-header and slow-body connections never timed out (--connection-timeout 1 here)."""
    idle = await held(sidecar.port, b"")
    headers = await held(sidecar.port, b"GET /users/alice HTTP/1.1\r\nHost: x\r\n", trickle=b"X-Slow: 1\r\n")
    body = await held(sidecar.port, b"POST /users HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ak_slow\r\n"
                                    b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\"", trickle=b" ")
    assert idle[0] < 3 and idle[1] == b"", idle
    assert headers[0] < 3 and headers[1] == b"", headers
    assert body[0] < 3 and body[1].startswith(b"HTTP/1.1 408") and b'"code":"request_timeout"' in body[1], body


async def test_past_the_connection_limit_new_ones_get_503_and_the_server_keeps_answering(sidecar):
    """At the file descriptor limit the server stopped answering and logged 19,177 tracebacks in 4 s."""
    async with bystander(sidecar.url):
        await asyncio.sleep(0.1)
        held = [await asyncio.open_connection("127.0.0.1", sidecar.port) for _ in range(80)]  # the cap is 64
        replies = []
        for reader, writer in held:
            try:
                replies.append(await asyncio.wait_for(reader.read(4096), 0.2))
            except asyncio.TimeoutError:
                replies.append(None)
        for _, writer in held:
            writer.close()
    refused = [r for r in replies if r and r.startswith(b"HTTP/1.1 503")]
    assert 10 <= len(refused) <= 20 and all(b'"code":"service_unavailable"' in r for r in refused)


async def test_a_slow_but_healthy_receiver_gets_every_notification_exactly_once():
    """A receiver answering in 4 s (under the 5 s timeout) lost 101 of 601 notifications and got 1,000 POSTs: the
    timeout counted the wait for a connection slot. Scaled down: answers in 0.25 s, timeout 0.4 s, 120 at once."""
    got, lock = [], threading.Lock()

    def slow(handler):
        time.sleep(0.25)
        with lock:
            got.append(handler.headers["Userflow-Signature"])
        handler.send_response(200)
        handler.send_header("Content-Length", "0")
        handler.end_headers()
    server, url = receiver(slow)
    sidecar = Sidecar(*BUDGETS[:BUDGETS.index("--webhook-timeout")], "--webhook-timeout", "0.4", "--webhook-max-attempts", "5",
                      "--webhook-queue-bytes", "8M")
    try:
        await call("POST", f"{sidecar.url}/webhook_subscriptions", json={"url": url, "topics": ["event"]})
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=32)) as session:  # under --max-connections
            sent = await asyncio.gather(*(session.post(f"{sidecar.url}/events", json={"user_id": "alice", "name": f"n{n}"},
                                                       headers={"Authorization": "Bearer ak_hostile"}) for n in range(120)))
            assert {r.status for r in sent} == {200}
        deadline = time.monotonic() + 20
        while (await call("GET", f"{sidecar.url}/__mock/webhooks", params={"limit": "1"}))[1]["pending"] and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        attempts = (await call("GET", f"{sidecar.url}/__mock/webhooks"))[1]["attempts"]
        assert len(got) == 120 and [a["outcome"] for a in attempts].count("delivered") == 120 and len(attempts) == 120
    finally:
        sidecar.stop()
        server.shutdown()


# -- framing -------------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("headers, problem", [({"X-Bad": "a\r\nSet-Cookie: pwned"}, "must not contain line breaks"),
                                              ({"Content-Length": "0"}, "frames the HTTP message"),
                                              ({"transfer-encoding": "chunked"}, "frames the HTTP message"),
                                              ({"Bad Name": "x"}, "must be a header name")])
async def test_scripted_headers_cannot_break_http(sidecar, headers, problem):
    scenario = {"name": "framing", "steps": [{"request": {"path": "/users"}, "response": {"status": 200, "headers": headers}}]}
    status, reply = await call("POST", f"{sidecar.url}/__mock/scenarios", json=scenario)
    assert status == 400 and problem in reply["error"]["message"]


async def test_the_http_layers_errors_come_in_the_apis_format(sidecar):
    """A URL too long or too many headers came back as text/plain; bytes that are not UTF-8 in the admin token, and a
    corrupt gzip body, were 500s."""
    long_url = await raw_request(sidecar.port, b"GET /users/" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ak_x\r\n\r\n")
    assert long_url.startswith(b"HTTP/1.1 414") and b'"code":"uri_too_long"' in long_url
    frigade = await raw_request(sidecar.port, b"GET /v1/public/flows?" + b"a" * 10_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert frigade.startswith(b"HTTP/1.1 414") and b'"statusCode":414' in frigade
    many = b"".join(b"X-%d: y\r\n" % n for n in range(200))
    headers = await raw_request(sidecar.port, b"GET /users/alice HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ak_x\r\n" + many + b"\r\n")
    assert headers.startswith(b"HTTP/1.1 431") and b'"code":"request_header_fields_too_large"' in headers
    absurd = await raw_request(sidecar.port, b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")  # past the parser itself
    assert absurd.startswith(b"HTTP/1.0 400") and b"application/json" in absurd and b'"code":"invalid_request"' in absurd
    token = await raw_request(sidecar.port, b"GET /__mock/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\nConnection: close\r\n\r\n")
    assert token.startswith(b"HTTP/1.1 200")  # no --admin-token here: the bytes are simply no token
    squeezed = b"not gzip at all"
    status, reply = await call("POST", f"{sidecar.url}/users", raw=squeezed,
                               headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, key="ak_gzip")
    assert status == 400 and "cannot be read" in reply["error"]["message"]
    status, user = await call("POST", f"{sidecar.url}/users", raw=gzip.compress(b'{"id": "zipped"}'),
                              headers={"Content-Type": "application/json", "Content-Encoding": "gzip"}, key="ak_gzip")
    assert status == 200 and user["id"] == "zipped"


async def test_an_admin_token_in_bytes_that_are_not_utf8_is_a_401_not_a_500():
    server = Sidecar(*BUDGETS, "--admin-token", "s3cret")
    try:
        answer = await raw_request(server.port, b"GET /__mock/requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\r\n"
                                                b"Connection: close\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 401") and b'"code":"invalid_api_key"' in answer
    finally:
        server.stop()


def test_a_public_bind_without_a_token_warns():
    server = Sidecar("--host", "0.0.0.0")
    log = server.stop()
    assert "listening on 0.0.0.0 without --admin-token: anyone who can reach this port can reset every environment" in log
    quiet = Sidecar("--host", "0.0.0.0", "--admin-token", "t")
    assert "without --admin-token" not in quiet.stop()


# -- state saves -----------------------------------------------------------------------------------------------------------

async def test_state_saves_do_not_stall_anyone_and_skip_what_did_not_change(tmp_path):
    """State saves blocked the loop 0.5-0.66 s per 100 environments, even when nothing had changed."""
    state = tmp_path / "state.bin"
    server = Sidecar(*BUDGETS, "--state", str(state), "--state-interval", "0.2")
    try:
        async with aiohttp.ClientSession() as session:
            for n in range(300):  # 300 tenants, each with a change of its own
                async with session.post(f"{server.url}/users", json={"id": f"u{n}", "attributes": {"n": n}},
                                        headers={"Authorization": f"Bearer ak_tenant{n}"}) as resp:
                    assert resp.status == 200
        async with bystander(server.url):  # the saves happen while the bystander calls
            deadline = time.monotonic() + 10
            while not state.exists() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.0)
        assert state.exists()
        written = state.stat().st_mtime_ns
        await asyncio.sleep(1.0)  # five more intervals, nothing changed: nothing written
        assert state.stat().st_mtime_ns == written
    finally:
        server.stop()
    again = Sidecar(*BUDGETS, "--state", str(state))
    try:
        assert (await call("GET", f"{again.url}/users/u299", key="ak_tenant299"))[1]["attributes"]["n"] == 299
    finally:
        again.stop()
