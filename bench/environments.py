"""What an environment costs: `python bench/environments.py [--envs N]`.

Starts `mockserver serve` with the built-in data and measures, over HTTP on loopback, in one run:
- the first request of a new key beside a warm request of an existing one (median of each);
- resident memory per environment that made a few writes (a user, an event, a list), and for N of them;
- the memory left after `POST /__mock/reset`;
- a page of `GET /users` in an environment that made 100 writes beside one in an untouched environment;
- the state file: its size, and the longest a health check waited while it was saved (which includes any pause of
  Python's cycle collector that falls in the window).
Figures drift with the machine's load: compare the ratios of one run.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

BEFORE = {"first request on a new key": "8 ms", "memory per environment": "2.05 MB"}  # measured on main before copy-on-write


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def timed(session, method, url, key, **kw) -> float:
    started = time.perf_counter()
    async with session.request(method, url, headers={"Authorization": f"Bearer {key}"}, **kw) as resp:
        await resp.read()
        assert resp.status < 400, (resp.status, url)
    return (time.perf_counter() - started) * 1000


async def loop_stall(session, base: str, seconds: float) -> float:
    """The longest a health check waited, polling every millisecond for `seconds`: how long the loop stood still."""
    worst, deadline = 0.0, time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.get(base + "/__mock/health") as resp:
            await resp.read()
        worst = max(worst, (time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.001)
    return worst


async def measure(base: str, pid: int, envs: int, state: Path) -> list[tuple[str, str, str]]:
    rows = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=8)) as session:
        users = await (await session.get(base + "/users?limit=1", headers={"Authorization": "Bearer ak_warm"})).json()
        user = users["data"][0]["id"]
        before = rss_mb(pid)

        async def fork(i: int) -> None:
            key = f"ak_bench{i}"
            await timed(session, "POST", f"{base}/users", key, json={"id": f"user-{i}", "attributes": {"plan": "pro", "n": i}})
            await timed(session, "POST", f"{base}/events", key, json={"user_id": f"user-{i}", "name": "signed_up"})
            await timed(session, "GET", f"{base}/users?limit=10", key)

        started = time.perf_counter()
        for chunk in range(0, envs, 50):
            await asyncio.gather(*(fork(i) for i in range(chunk, min(chunk + 50, envs))))
        elapsed = time.perf_counter() - started
        after = rss_mb(pid)
        per_env = (after - before) * 1024 / envs
        rows.append(("memory per environment (a user, an event, a list)", f"{per_env:,.0f} KB", "under 100 KB"))
        rows.append((f"{envs:,} environments in one process", f"{after:,.0f} MB RSS ({elapsed:.1f} s to make them)",
                     "under 1 GB for 10,000"))
        first = await loop_stall(session, base, 2.5)  # the first periodic save (--state-interval 1) pickles every environment
        await asyncio.gather(*(fork(i) for i in range(0, envs, 100)))  # then 1 in 100 changes
        later = await loop_stall(session, base, 1.5)
        rows.append(("state file", f"{state.stat().st_size / 1e6:.2f} MB for {envs:,} environments; the longest wait for "
                     f"/__mock/health while saving: {first:.1f} ms (all new), {later:.1f} ms (1 in 100 changed)", "a few ms"))
        await session.post(base + "/__mock/reset")
        await asyncio.sleep(1.5)
        reset = rss_mb(pid)
        for chunk in range(0, envs, 50):  # the same environments again: they reuse what the reset freed
            await asyncio.gather(*(fork(i) for i in range(chunk, min(chunk + 50, envs))))
        again = rss_mb(pid)
        await session.post(base + "/__mock/reset")
        rows.append(("after POST /__mock/reset", f"{reset:,.0f} MB RSS (was {before:,.0f} before, {after:,.0f} with them); making "
                     f"them all again: {again:,.0f} MB", "memory given back"))

        for _ in range(50):
            await timed(session, "GET", f"{base}/users/{user}", "ak_warm")
        warm = [await timed(session, "GET", f"{base}/users/{user}", "ak_warm") for _ in range(300)]
        first = [await timed(session, "GET", f"{base}/users/{user}", f"ak_first{i}") for i in range(300)]
        ratio = statistics.median(first) / statistics.median(warm)
        rows.append(("first request on a new key", f"{statistics.median(first):.2f} ms ({ratio:.2f}x a warm request, "
                     f"{statistics.median(warm):.2f} ms)", "within 1.2x of a warm request"))
        for i in range(100):
            await timed(session, "POST", f"{base}/users", "ak_written", json={"id": f"w{i}", "attributes": {"name": f"W {i}"}})
        pages = {}
        for key in ("ak_untouched", "ak_written"):
            await timed(session, "GET", f"{base}/users?limit=100&order_by=attributes.name", key)
            pages[key] = statistics.median([await timed(session, "GET", f"{base}/users?limit=100&order_by=attributes.name", key)
                                            for _ in range(100)])
        rows.append(("page of 100 users by name, 100-write environment", f"{pages['ak_written']:.2f} ms "
                     f"({pages['ak_written'] / pages['ak_untouched']:.2f}x the untouched one's {pages['ak_untouched']:.2f} ms)",
                     "as fast as in the seed"))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--envs", type=int, default=10_000, help="environments to make (default 10,000)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state.bin"
        proc = subprocess.Popen([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--quiet", "--state", str(state),
                                 "--state-interval", "1"], stdout=subprocess.PIPE, text=True)
        try:
            base = proc.stdout.readline().split()[-1]
            rows = asyncio.run(measure(base, proc.pid, args.envs, state))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    width = max(len(r[0]) for r in rows)
    print(f"{'measure':<{width}}  {'figure':<70}  target")
    for name, figure, target in rows:
        print(f"{name:<{width}}  {figure:<70}  {target}")
    print("before copy-on-write (main): " + "; ".join(f"{k}: {v}" for k, v in BEFORE.items()))
    print(json.dumps({"cpus": os.cpu_count(), "python": sys.version.split()[0]}))


if __name__ == "__main__":
    main()
