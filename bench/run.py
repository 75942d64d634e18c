"""mockserver's benchmark: every workload beside the bare-aiohttp ceiling and the peer mocks, in one run.

    python bench/run.py [--duration 8] [--rounds 3] [--connections 32] [--large 100000] [--sustained 30] [--soak 60]

Starts the ceiling (bench/ceiling.py, on the same event loop as mockserver), mockserver as users start it (a log line
per request, written to a file) and with --quiet, and Prism and Mockoon when ../shared/bench/peers.sh can provide them
(npm); drives them with wrk (else an aiohttp client), alternating the servers round by round and keeping each one's
median round; then runs each workload of the built-in data round by round beside the ceiling's GET and Prism's (its
ratios are to those rounds), then sustained creates and a soak (single runs); then, with 1,000 and --large users up at
once, asks the filters of both in alternating rounds, and measures deep pages (each beside a run of the ceiling), the
worst stall of the event loop seen by a bystander, start-up, and RSS under load. Prints every figure beside its
target. Compare rows of one run, never across runs.
"""
from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
PEERS_SCRIPTS = HERE.parent.parent / "shared" / "bench"  # peers.sh and its OpenAPI file, beside this repository
PEERS = Path(os.environ.get("PEERS", "/tmp/mock-peers"))
KEY = "ak_bench"
HEADERS = {"Authorization": f"Bearer {KEY}"}
# a clause of three: a datetime, a string and a number comparison (matching about 1 user in 16: under the 10,000 matches
# a condition may have, even at 100,000 users)
CONDITION = json.dumps({"type": "clause", "operator": "and", "conditions": [
    {"type": "attribute", "attribute_name": "signed_up_at", "operator": "gt", "value": "2023-01-01T00:00:00Z"},
    {"type": "attribute", "attribute_name": "plan", "operator": "eq", "value": "pro"},
    {"type": "attribute", "attribute_name": "project_count", "operator": "gte", "value": 30}]})
CONDITION_ROW = "GET /users?condition=... (a clause of three, 200 users)"
NEW_CONDITION_ROW = "GET /users?condition=... (a new condition each request, 200 users)"
CREATES_ROW = "POST /users (a new user each time)"
CONDITION_PATH = "/users?" + urllib.parse.urlencode({"condition": CONDITION})
# the same clause with a number of its own in each request ({n}): a new condition every time, never one seen before
NEW_CONDITION_PATH = "/users?" + urllib.parse.urlencode({"condition": CONDITION.replace('"value": 30}', '"value": 30.987654321}')}
                                                      ).replace("987654321", "{n}")
SEGMENTS = """segments:
  - {id: seg_pro_users, name: Pro users, scope: user, condition: {type: attribute, attribute_name: plan, operator: eq, value: pro}}
"""
# creates: every request a new user, ids unique per wrk thread
CREATES_LUA = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) n = 0; wrk.headers["Content-Type"] = "application/json" end
function request()
  n = n + 1
  return wrk.format("POST", "/users", nil,
    '{"id":"bench-' .. tid .. '-' .. n .. '","attributes":{"plan":"pro","visits":{"add":1},"tags":{"append":["beta"]},' ..
    '"seen_at":"2024-05-01T10:00:00Z"}}')
end
"""
# a path with {n} in it: n counts the requests of each wrk thread (prefixed by the thread's number)
NUMBERED_LUA = """
local threads = 0
function setup(thread) threads = threads + 1; thread:set("tid", threads) end
function init(args) n = 0 end
function request()
  n = n + 1
  return wrk.format("GET", HEAD .. tid .. "0" .. n .. TAIL)
end
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers=None, data: bytes | None = None) -> dict:
    request = urllib.request.Request(url, data=data, headers={**(headers or HEADERS), "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as resp:
        return json.loads(resp.read())


def loop_in_use() -> str:
    """The event loop mockserver runs on (--loop auto), which the ceiling then runs on too. BENCH_LOOP=asyncio measures
    a server that does not choose its loop (an older mockserver) against an asyncio ceiling."""
    if os.environ.get("BENCH_LOOP"):
        return os.environ["BENCH_LOOP"]
    try:
        import uvloop  # noqa: F401 -- mockserver's --loop auto takes it when installed
        return "uvloop"
    except ImportError:
        return "asyncio"


class Server:
    """A process that prints a ready line, or is ready when `probe` answers."""

    def __init__(self, name: str, args: list[str], url: str | None = None, probe: str = "", log: Path | None = None):
        self.name, self.args, self.url, self.probe, self.log = name, args, url, probe, log

    def start(self) -> Server:
        self.started = time.perf_counter()
        stderr = open(self.log, "w") if self.log else subprocess.DEVNULL
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE if self.url is None else subprocess.DEVNULL,
                                     stderr=stderr, text=True)
        if self.url is None:
            line = self.proc.stdout.readline()
            self.ready_s = time.perf_counter() - self.started
            match = re.search(r"http://\S+", line)
            if not match:
                raise SystemExit(f"{self.name} did not start: {line!r}")
            self.url = match.group(0)
        for _ in range(600):
            try:
                get(self.url + self.probe) if self.probe else None
                return self
            except OSError:
                time.sleep(0.1)
        raise SystemExit(f"{self.name} did not answer {self.probe}")

    def rss_mb(self, field: str = "VmRSS") -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        """Stop it (nothing to do if it never started, or has stopped already)."""
        if not hasattr(self, "proc"):
            return
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def mockserver(name: str, *extra: str, fixtures: Path | None = None, log: Path | None = None) -> Server:
    args = [sys.executable, "-m", "mockserver", "serve", "--port", "0", *extra]
    return Server(name, args + (["--fixtures", str(fixtures)] if fixtures else []), log=log)


def ceiling() -> Server:
    port = free_port()
    return Server("ceiling", [sys.executable, str(HERE / "ceiling.py"), str(port), loop_in_use()],
                  url=f"http://127.0.0.1:{port}", probe="/users/1")


def peers() -> list[Server]:
    """Prism and Mockoon serving the minimal OpenAPI of GET /users/{id}, installed as peers.sh installs them."""
    spec = PEERS_SCRIPTS / "userflow-min.openapi.yaml"
    bin_dir = PEERS / "node_modules" / ".bin"
    if not spec.exists() or not shutil.which("npm"):
        return []
    if not (bin_dir / "prism").exists():
        subprocess.run(["npm", "install", "--silent", "--prefix", str(PEERS), "@stoplight/prism-cli@5", "@mockoon/cli@9"],
                       capture_output=True, timeout=600)
    found = []
    for name, command in (("Prism", ["prism", "mock", "-p", "{port}", "-h", "127.0.0.1", str(spec)]),
                          ("Mockoon", ["mockoon-cli", "start", "--data", str(spec), "--port", "{port}", "--hostname", "127.0.0.1"])):
        if (bin_dir / command[0]).exists():
            port = free_port()
            args = [str(bin_dir / command[0])] + [a.format(port=port) for a in command[1:]]
            found.append(Server(name, args, url=f"http://127.0.0.1:{port}", probe="/users/1"))
    return found


def wrk(url: str, duration: int, connections: int, lua: str | None = None) -> dict:
    script = None
    if lua is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(lua)
        script.close()
    args = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "-H", f"Authorization: Bearer {KEY}", url]
    if script:
        args[1:1] = ["-s", script.name]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    if script:
        os.unlink(script.name)

    def ms(label: str) -> float:
        value, unit = re.search(rf"^\s+{label}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)), "p50": ms("50"), "p99": ms("99"),
            "errors": int(errors.group(1)) if errors else 0}


async def _client_load(url: str, duration: int, connections: int, creates: bool) -> dict:
    import aiohttp

    latencies, errors, counter = [], 0, iter(range(10 ** 9))
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(headers=HEADERS, connector=aiohttp.TCPConnector(limit=connections)) as session:
        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                request = session.post(url, json={"id": f"bench-{next(counter)}", "attributes": {"plan": "pro"}}) if creates \
                    else session.get(url.replace("{n}", str(next(counter))))
                async with request as resp:
                    await resp.read()
                    errors += resp.status >= 300
                latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return {"rps": len(latencies) / duration, "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
            "errors": errors}


def load(url: str, duration: int, connections: int, creates: bool = False) -> dict:
    """Requests/s and latencies of GET `url` (a {n} in it: a number of its own in each request), or of creates."""
    if shutil.which("wrk"):
        if "{n}" in url:
            parts = urllib.parse.urlsplit(url)
            head, tail = f"{parts.path}?{parts.query}".split("{n}")
            lua = f"HEAD = {json.dumps(head)}\nTAIL = {json.dumps(tail)}\n" + NUMBERED_LUA
            return wrk(f"{parts.scheme}://{parts.netloc}/", duration, connections, lua)
        return wrk(url, duration, connections, CREATES_LUA if creates else None)
    return asyncio.run(_client_load(url, duration, connections, creates))


def timed(url: str, times: int = 15, headers=None, first: int = 1) -> list[float]:
    """Milliseconds of `times` requests made one after another (a single client's view); a {n} in `url` is a number of
    each request's own, counting from `first`."""
    found = []
    for i in range(first, first + times):
        started = time.perf_counter()
        get(url.replace("{n}", str(i)), headers)
        found.append((time.perf_counter() - started) * 1000)
    return found


class Bystander:
    """A client asking for one user every 5 ms on a connection of its own, keeping how long each answer took: the
    longest is the worst time the event loop was held while something else ran."""

    def __init__(self, url: str, path: str):
        parts = urllib.parse.urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port, path
        self.latencies: list[float] = []
        self._stop = threading.Event()

    def __enter__(self) -> Bystander:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        time.sleep(0.3)
        return self

    def _run(self) -> None:
        connection = http.client.HTTPConnection(self.host, self.port, timeout=30)
        while not self._stop.is_set():
            started = time.perf_counter()
            connection.request("GET", self.path, headers={"Authorization": "Bearer ak_bystander"})
            connection.getresponse().read()
            self.latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)

    def __exit__(self, *exc) -> None:
        time.sleep(0.3)
        self._stop.set()
        self._thread.join()

    @property
    def worst(self) -> float:
        return max(self.latencies)


def large_fixtures(users: int, folder: Path) -> Path:
    path = folder / f"users-{users}.yaml"
    path.write_text(f"generate: {{users: {users}, groups: 20, events: 0}}\n{SEGMENTS}")
    return path


def startup(starts: int = 5) -> float:
    """Seconds from launch to the ready line with the built-in data: the median of `starts` starts after one that
    compiles what it imports, each stopped before the next."""
    seconds = []
    for _ in range(starts + 1):
        server = mockserver("start-up").start()
        seconds.append(server.ready_s)
        server.stop()
    return statistics.median(seconds[1:])


def median_round(runs: list[dict]) -> dict:
    return sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per load run (default 8)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds of the headline runs and of each workload (default 3)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--large", type=int, default=100_000, help="users in the large data set (default 100000)")
    parser.add_argument("--sustained", type=int, default=30, help="seconds of sustained creates (default 30)")
    parser.add_argument("--soak", type=int, default=60, help="seconds of load while RSS is watched (default 60)")
    args = parser.parse_args()
    d, c = args.duration, args.connections
    tool = "wrk" if shutil.which("wrk") else "aiohttp client"
    rows: list[tuple[str, dict, float]] = []  # (run, its figures, the ceiling's GET it is compared with)
    reference: dict[str, dict] = {}  # a workload's row -> the ceiling's and Prism's GET in the rounds beside it
    facts: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        # mockserver as `pip install .` leaves it, with its modules compiled: a work tree under PYTHONDONTWRITEBYTECODE
        # would compile them at every start (~0.08 s); the servers here keep their bytecode in a folder of the run
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "bytecode")
        facts["startup_s"] = startup()
        # -- the headline: the same GET on every server, alternating round by round -----------------------------------
        servers = [ceiling(), mockserver("mockserver (default: a log line per request)", log=tmp / "access.log"),
                   mockserver("mockserver --quiet", "--quiet"), *peers()]
        ceiling_server, prism = servers[0], next((s for s in servers if s.name == "Prism"), None)
        workload = mockserver("default", log=tmp / "access2.log")
        try:
            for server in [*servers, workload]:
                server.start()
            user = get(servers[1].url + "/users?limit=1")["data"][0]["id"]
            paths = {s.name: f"/users/{user}" if s.name.startswith("mockserver") else "/users/1" for s in servers}
            runs = {s.name: [] for s in servers}
            for _ in range(args.rounds):
                for server in servers:
                    runs[server.name].append(load(server.url + paths[server.name], d, c))
            headline = {s.name: median_round(runs[s.name]) for s in servers}
            ceiling_rps, prism_rps = headline["ceiling"]["rps"], headline["Prism"]["rps"] if prism else None
            for server in servers:
                rows.append((f"GET /users/{{id}}: {server.name}, median of {args.rounds}", headline[server.name], ceiling_rps))
            logged = sum(1 for _ in open(tmp / "access.log"))
            facts["log_lines"] = logged
            for server in servers:  # the ceiling and Prism go on, beside each workload
                if server not in (ceiling_server, prism):
                    server.stop()

            # -- the other workloads on the built-in data, as users start it: each one alternating round by round with
            # the ceiling's GET and Prism's, so that its ratios compare runs made a minute apart at most -------------------
            url = workload.url
            matches = len(get(url + CONDITION_PATH + "&limit=100")["data"])
            plain_row = f"GET /users?limit={matches} (as many users as the condition matches, without a condition)"
            for name, path, creates in (
                    ("GET /users?limit=100&expand=memberships.group", "/users?limit=100&expand=memberships.group", False),
                    (plain_row, f"/users?limit={matches}", False),
                    (CONDITION_ROW, CONDITION_PATH, False), (NEW_CONDITION_ROW, NEW_CONDITION_PATH, False),
                    (CREATES_ROW, "/users", True)):
                beside = {"ceiling": [], "Prism": [], name: []}
                for _ in range(args.rounds):
                    beside["ceiling"].append(load(ceiling_server.url + "/users/1", d, c))
                    if prism:
                        beside["Prism"].append(load(prism.url + "/users/1", d, c))
                    beside[name].append(load(url + path, d, c, creates=creates))
                reference[name] = {side: median_round(beside[side])["rps"] if beside[side] else None for side in ("ceiling", "Prism")}
                rows.append((f"{name}, median of {args.rounds}", median_round(beside[name]), reference[name]["ceiling"]))
            rows.append((f"POST /users, sustained {args.sustained} s", load(url + "/users", args.sustained, c, creates=True),
                         reference[CREATES_ROW]["ceiling"]))
            facts["first_request_ms"] = statistics.median(
                timed(url + "/users?limit=1", 1, {"Authorization": f"Bearer ak_fresh{i}"})[0] for i in range(9))
            rss_before = workload.rss_mb()
            soak = load(url + f"/users/{user}", args.soak, c)
            facts["rss_before_mb"], facts["rss_after_mb"], facts["soak_rps"] = rss_before, workload.rss_mb(), soak["rps"]
        finally:
            for server in [*servers, workload]:
                server.stop()

        # -- sizes: 1,000 and --large users, both up at once: the filters' medians of the two alternate in rounds, so
        # their ratio compares requests made seconds apart ------------------------------------------------------------
        sized: dict[int, dict[str, float]] = {}
        servers = {users: mockserver(f"{users} users", "--quiet", "--state", str(tmp / f"state-{users}.bin"), "--state-interval", "1",
                                     fixtures=large_fixtures(users, tmp)) for users in (1000, args.large)}
        ceiling_beside = ceiling()
        try:
            ceiling_beside.start()
            filters = {}
            for users, server in servers.items():
                server.start()
                url, figures = server.url, {}
                sized[users] = figures
                figures["startup_s"] = server.ready_s
                figures["page"] = get(url + "/users?order_by=-created_at&limit=20")["data"]
                group = get(url + "/groups?limit=1")["data"][0]["id"]
                member = get(url + f"/users?group_id={group}&limit=1")["data"][0]["id"]
                filters[users] = {"group_id": f"/users?group_id={group}", "user_id": f"/groups?user_id={member}",
                                  "segment_id": "/users?segment_id=seg_pro_users",
                                  "condition": NEW_CONDITION_PATH}  # a new condition each time: a whole scan each
            times = {users: {name: [] for name in filters[users]} for users in servers}
            for turn in range(3):
                for users, server in servers.items():
                    for name, path in filters[users].items():
                        times[users][name] += timed(server.url + path, 15, first=1 + 15 * turn)  # never the same condition
            for users, server in servers.items():
                url, figures = server.url, sized[users]
                figures.update({name: statistics.median(found) for name, found in times[users].items()})
                page = figures.pop("page")
                deep_ceiling = load(ceiling_beside.url + "/users/1", d, c)["rps"]
                deep = load(f"{url}/users?starting_after={page[10]['id']}", d, c)
                rows.append((f"deep page, {users:,} users (starting_after near the end)", deep, deep_ceiling))
                figures["deep_p50"], figures["deep_p99"] = deep["p50"], deep["p99"]
                # the worst wait of a bystander while each of these runs once (a fresh key each: nothing cached)
                with Bystander(url, f"/users/{page[0]['id']}") as bystander:
                    baseline = statistics.median(bystander.latencies) if bystander.latencies else 0
                    get(url + "/users?order_by=attributes.name&limit=5", {"Authorization": "Bearer ak_sort1"})
                    get(url + "/users?order_by=-attributes.last_seen_at&limit=5", {"Authorization": "Bearer ak_sort2"})
                    get(url + "/users?limit=5", {"Authorization": "Bearer ak_newkey"})
                    get(url + CONDITION_PATH, {"Authorization": "Bearer ak_cond"})
                    for i in range(50):  # changes, so the next --state save has work to do
                        get(url + "/users", {"Authorization": f"Bearer ak_saver{i % 5}"}, json.dumps({"id": f"s{i}"}).encode())
                    time.sleep(2.5)  # at least two saves
                figures["stall_ms"], figures["bystander_p50"] = bystander.worst, baseline
                figures["rss_mb"] = server.rss_mb("VmHWM")
        finally:
            for server in [*servers.values(), ceiling_beside]:
                server.stop()

    small, large = sized[1000], sized[args.large]
    print(f"\nmockserver benchmark: {d} s per run, {c} connections, load by {tool}, {os.cpu_count()} cores, "
          f"event loop {loop_in_use()} (ceiling and mockserver alike)\n")
    print("| run | requests/s | × ceiling | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, r, beside in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['rps'] / beside:.2f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    by_name = {name: r for name, r, _ in rows}
    default = headline["mockserver (default: a log line per request)"]["rps"]
    quiet = headline["mockserver --quiet"]["rps"]

    def ratio(name: str, against: str = "ceiling") -> float:
        """A workload's median requests/s over the median of the ceiling's (or Prism's) GET in the rounds beside it."""
        return by_name[f"{name}, median of {args.rounds}"]["rps"] / reference[name][against]
    sustained = by_name[f"POST /users, sustained {args.sustained} s"]
    expanded = by_name[f"GET /users?limit=100&expand=memberships.group, median of {args.rounds}"]["rps"]
    checks = [
        ("GET /users/{id}, default, × ceiling", f"{default / ceiling_rps:.2f}", ">= 0.6", default / ceiling_rps >= 0.6),
        ("GET /users/{id}, --quiet, × ceiling", f"{quiet / ceiling_rps:.2f}", ">= 0.7", quiet / ceiling_rps >= 0.7),
        ("POST /users (creates), × the ceiling's GET beside them", f"{ratio(CREATES_ROW):.2f}", ">= 0.3", ratio(CREATES_ROW) >= 0.3),
        ("expanded list of 100, requests/s", f"{expanded:,.0f}", ">= 2,000", expanded >= 2000),
        (f"POST create p99 / p50, sustained {args.sustained} s", f"{sustained['p99'] / sustained['p50']:.1f}", "<= 5",
         sustained["p99"] / sustained["p50"] <= 5),
        (f"deep page p99 / p50, {args.large:,} users", f"{large['deep_p99'] / large['deep_p50']:.1f}", "<= 2",
         large["deep_p99"] / large["deep_p50"] <= 2),
        (f"condition list, {args.large:,} users (one client, median)", f"{large['condition']:.1f} ms", "<= 50 ms", large["condition"] <= 50),
        (f"worst loop stall at {args.large:,} users (bystander's longest wait)", f"{large['stall_ms']:.1f} ms", "<= 20 ms",
         large["stall_ms"] <= 20),
        ("start-up to the ready line, built-in data (median of 5)", f"{facts['startup_s']:.2f} s", "< 0.7 s", facts["startup_s"] < 0.7),
        ("first request on a new key", f"{facts['first_request_ms']:.1f} ms", "< 100 ms", facts["first_request_ms"] < 100),
        (f"RSS before / after {args.soak} s of load", f"{facts['rss_before_mb']:.0f} / {facts['rss_after_mb']:.0f} MB", "flat",
         facts["rss_after_mb"] <= facts["rss_before_mb"] * 1.1 + 5),
        ("access log lines written (default run)", f"{facts['log_lines']:,}", "one per request", facts["log_lines"] > 0),
    ]
    if prism_rps:
        checks[1:1] = [("GET /users/{id}, default, × Prism", f"{default / prism_rps:.1f}", ">= 4", default / prism_rps >= 4)]
        for name, label in ((CONDITION_ROW, "condition list, built-in data"),
                            (NEW_CONDITION_ROW, "condition list, a new condition each request")):
            checks.append((f"{label}, × Prism's GET beside it", f"{ratio(name, 'Prism'):.1f}", ">= 4", ratio(name, "Prism") >= 4))
        checks.append(("as many users as the condition matches, listed without a condition (about the most a condition list "
                       "can do), × Prism's GET "
                       "beside it", f"{ratio(plain_row, 'Prism'):.1f}", "none", None))
    for name in ("group_id", "user_id", "segment_id"):
        ratio = large[name] / small[name]
        checks.append((f"{name} filter, {args.large:,} vs 1,000 users (one client, median)",
                       f"{ratio:.2f} ({small[name]:.1f} → {large[name]:.1f} ms)", "<= 1.3", ratio <= 1.3))
    print("\n| measure | value | target | met |\n|---|---:|---|:---:|")
    for name, value, target, ok in checks:
        print(f"| {name} | {value} | {target} | {'-' if ok is None else 'yes' if ok else 'NO'} |")
    print("\n| size | start-up | peak RSS | deep p50 / p99 ms | group_id | segment_id | condition | worst stall |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|")
    for users, f in sized.items():
        print(f"| {users:,} users | {f['startup_s']:.1f} s | {f['rss_mb']:.0f} MB | {f['deep_p50']:.2f} / {f['deep_p99']:.2f} | "
              f"{f['group_id']:.1f} ms | {f['segment_id']:.1f} ms | {f['condition']:.1f} ms | {f['stall_ms']:.1f} ms |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
