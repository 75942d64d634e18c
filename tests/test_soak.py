"""A bounded soak: steady load for a few minutes; no errors, and memory stays flat.

Not in the default run. `pytest -m soak -s` runs it (SOAK_SECONDS sets the length, default 180).
"""
import asyncio
import os
import re
import time
from pathlib import Path

import aiohttp
import pytest

from conftest import SMALL
from mockserver.pytest_plugin import _Server
from mockserver.settings import Settings

pytestmark = pytest.mark.soak


def rss_mb() -> float:
    return int(re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) / 1024


async def drive(url: str, seconds: float, connections: int = 16) -> tuple[int, int]:
    done, errors = 0, 0
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        async def worker(n: int):
            nonlocal done, errors
            headers = {"Authorization": f"Bearer ak_soak{n % 4}"}
            i = 0
            while time.monotonic() < deadline:
                i += 1
                calls = [session.post(f"{url}/users", json={"id": f"u{n}-{i % 50}", "attributes": {"n": {"add": 1}}}, headers=headers),
                         session.get(f"{url}/users?limit=20&expand=memberships.group", headers=headers),
                         session.post(f"{url}/groups", json={"id": f"g{i % 10}", "attributes": {"n": {"add": 1}}}, headers=headers),
                         session.get(f"{url}/users/u{n}-{i % 50}", headers=headers)]
                for request in calls:
                    async with request as resp:
                        await resp.read()
                        done += 1
                        errors += resp.status >= 400
        await asyncio.gather(*(worker(n) for n in range(connections)))
    return done, errors


def test_soak():
    seconds = float(os.environ.get("SOAK_SECONDS", "180"))
    server = _Server(Settings(fixtures=SMALL, quiet=True, journal_size=1000, webhook_log_size=1000))
    url = server.start()
    try:
        asyncio.run(drive(url, min(20.0, seconds / 6)))  # warm up: environments, indexes, the journal fill
        start_rss = rss_mb()
        done, errors = asyncio.run(drive(url, seconds))
        end_rss = rss_mb()
    finally:
        server.stop()
    print(f"\nsoak: {seconds:.0f} s, {done} requests ({done / seconds:.0f}/s), {errors} errors, RSS {start_rss:.0f} MB -> {end_rss:.0f} MB")
    assert errors == 0
    # the workload's state is bounded (50 users and 10 groups per worker), as are the journal and webhook log
    assert end_rss - start_rss < 20, (start_rss, end_rss)
