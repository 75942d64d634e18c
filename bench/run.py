"""mockserver's benchmark: the server beside a bare-aiohttp ceiling, in one run, on this machine.

    python bench/run.py [--duration 8] [--connections 32] [--large 100000]

Starts the ceiling (bench/ceiling.py) and mockserver processes (built-in data, 1,000 users, and
--large users), drives them with wrk when it is installed (else an aiohttp client), and prints a
table of requests/s and p50/p99 latency, the targets as ratios, start-up times, the cost of the
first request on a new environment and peak RSS. Compare rows of one run, never across runs.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).parent
KEY = "ak_bench"
HEADERS = {"Authorization": f"Bearer {KEY}"}
POST_BODY = {"id": "bench-user", "attributes": {"plan": {"set": "pro"}, "visits": {"add": 1}, "tags": {"append": ["beta", "api"]},
                                                "seen_at": "2024-05-01T10:00:00Z"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, headers=None) -> dict:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or HEADERS), timeout=60) as resp:
        return json.loads(resp.read())


class Server:
    """A process that prints a ready line (mockserver) or answers on its port (the ceiling)."""

    def __init__(self, name: str, args: list[str]):
        self.name, self.args = name, args

    def start(self) -> "Server":
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        self.ready_s = time.perf_counter() - self.started
        match = re.search(r"http://\S+", line)
        if not match:
            raise SystemExit(f"{self.name} did not start: {line!r}")
        self.url = match.group(0)
        return self

    def peak_rss_mb(self) -> float:
        status = Path(f"/proc/{self.proc.pid}/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1)) / 1024

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)


def mockserver(name: str, fixtures: Path | None = None) -> Server:
    args = [sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet"]
    return Server(name, args + (["--fixtures", str(fixtures)] if fixtures else []))


def ceiling() -> Server:
    port = free_port()
    server = Server("ceiling", [sys.executable, "-c", f"import runpy, sys; sys.argv = ['ceiling', '{port}']; "
                                                     f"print('ready http://127.0.0.1:{port}', flush=True); "
                                                     f"runpy.run_path({str(HERE / 'ceiling.py')!r}, run_name='__main__')"])
    server.start()
    for _ in range(100):  # the ready line comes before the socket is bound
        try:
            get(server.url + "/users/1")
            break
        except OSError:
            time.sleep(0.05)
    return server


def wrk(url: str, duration: int, connections: int, post: dict | None = None) -> dict:
    script = None
    if post is not None:
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
        script.write(f'wrk.method = "POST"\nwrk.body = {json.dumps(json.dumps(post))}\n'
                     f'wrk.headers["Content-Type"] = "application/json"\n')
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


async def _client_load(url: str, duration: int, connections: int, post: dict | None) -> dict:
    import aiohttp

    latencies, errors = [], 0
    deadline = time.perf_counter() + duration
    async with aiohttp.ClientSession(headers=HEADERS, connector=aiohttp.TCPConnector(limit=connections)) as session:
        async def worker():
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                request = session.post(url, json=post) if post is not None else session.get(url)
                async with request as resp:
                    await resp.read()
                    errors += resp.status >= 300
                latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.gather(*(worker() for _ in range(connections)))
    latencies.sort()
    return {"rps": len(latencies) / duration, "p50": latencies[len(latencies) // 2], "p99": latencies[int(len(latencies) * 0.99)],
            "errors": errors}


def load(url: str, duration: int, connections: int, post: dict | None = None) -> dict:
    if shutil.which("wrk"):
        return wrk(url, duration, connections, post)
    return asyncio.run(_client_load(url, duration, connections, post))


def first_request_ms(url: str, tries: int = 7) -> float:
    """Median time of the first request made with a brand-new key (the environment is created for it)."""
    times = []
    for i in range(tries):
        headers = {"Authorization": f"Bearer ak_fresh{i}{time.time_ns()}"}
        started = time.perf_counter()
        get(url + "/users?limit=1", headers)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def fixtures(users: int, folder: Path) -> Path:
    path = folder / f"users-{users}.yaml"
    path.write_text(f"generate: {{users: {users}, groups: 20, events: 0}}\n")
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=8, help="seconds per load run (default 8)")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--large", type=int, default=100_000, help="users in the large environment (default 100000)")
    args = parser.parse_args()
    d, c = args.duration, args.connections
    tool = "wrk" if shutil.which("wrk") else "aiohttp client"
    rows, facts = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        top = ceiling()
        default = mockserver("default").start()
        try:
            user = get(default.url + "/users?limit=1")["data"][0]["id"]
            # the headline ratio: ceiling and mock alternate three times, and the median run of each counts
            pairs = [(load(top.url + "/users/1", d, c), load(f"{default.url}/users/{user}", d, c)) for _ in range(3)]
            rows.append(("ceiling: GET /users/1 (constant), median of 3", sorted((p[0] for p in pairs), key=lambda r: r["rps"])[1]))
            rows.append(("GET /users/{id}, median of 3", sorted((p[1] for p in pairs), key=lambda r: r["rps"])[1]))
            rows.append(("GET /users?limit=100&expand=memberships.group", load(default.url + "/users?limit=100&expand=memberships.group", d, c)))
            rows.append(("POST /users (attribute operations)", load(default.url + "/users", d, c, POST_BODY)))
            facts["startup_default_s"] = default.ready_s
            facts["first_request_ms"] = first_request_ms(default.url)
        finally:
            top.stop()
            default.stop()
        for users in (1000, args.large):
            server = mockserver(f"{users} users", fixtures(users, Path(tmp))).start()
            try:
                near_end = get(server.url + "/users?order_by=-created_at&limit=20")["data"][10]["id"]
                rows.append((f"deep page, {users:,} users (starting_after near the end)",
                             load(f"{server.url}/users?starting_after={near_end}", d, c)))
                facts[f"startup_{users}_s"] = server.ready_s
                facts[f"rss_{users}_mb"] = server.peak_rss_mb()
            finally:
                server.stop()
    ceiling_rps = rows[0][1]["rps"]
    print(f"\nmockserver benchmark: {d}s per run, {c} connections, load by {tool}, {os.cpu_count()} cores\n")
    print("| run | requests/s | p50 ms | p99 ms | non-2xx |")
    print("|---|---:|---:|---:|---:|")
    for name, r in rows:
        print(f"| {name} | {r['rps']:,.0f} | {r['p50']:.2f} | {r['p99']:.2f} | {r['errors']} |")
    deep_small, deep_large = rows[-2][1], rows[-1][1]
    checks = [
        ("GET /users/{id} vs ceiling (target >= 50%)", rows[1][1]["rps"] / ceiling_rps, rows[1][1]["rps"] / ceiling_rps >= 0.5, "{:.0%}"),
        (f"deep page p50, {args.large:,} vs 1,000 users (target <= 1.3x)", deep_large["p50"] / deep_small["p50"],
         deep_large["p50"] / deep_small["p50"] <= 1.3, "{:.2f}x"),
        ("start-up to ready, default data (target < 1 s)", facts["startup_default_s"], facts["startup_default_s"] < 1, "{:.2f} s"),
        ("first request on a new environment (target < 100 ms)", facts["first_request_ms"], facts["first_request_ms"] < 100, "{:.1f} ms"),
        (f"peak RSS, {args.large:,} users (target < 400 MB)", facts[f"rss_{args.large}_mb"], facts[f"rss_{args.large}_mb"] < 400, "{:.0f} MB"),
        (f"start-up to ready, {args.large:,} users", facts[f"startup_{args.large}_s"], True, "{:.1f} s"),
        ("peak RSS, 1,000 users", facts["rss_1000_mb"], True, "{:.0f} MB"),
    ]
    print("\n| measure | value | target met |\n|---|---:|:---:|")
    for name, value, ok, fmt in checks:
        print(f"| {name} | {fmt.format(value)} | {'yes' if ok else 'NO'} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
