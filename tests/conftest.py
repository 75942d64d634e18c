"""Shared fixtures. Every response any test receives is validated against schemas/ by `Api`."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiohttp import web
from multidict import CIMultiDictProxy

from mockserver.app import create_app
from mockserver.schemas import Schemas
from mockserver.settings import Settings

SMALL = Path(__file__).parent / "fixtures" / "small.yaml"
SCHEMAS = Schemas()
_keys = itertools.count(1)


async def raw_request(port: int, data: bytes) -> bytes:
    """Raw bytes in, everything the server writes until it closes the connection out."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    answer = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return answer


def assert_valid(schema: str, body) -> None:
    problems = SCHEMAS.errors(schema, body)
    assert not problems, f"response does not match {schema}: {problems}"


@dataclass
class Reply:
    status: int
    body: object
    headers: CIMultiDictProxy


class Api:
    """A client for one environment: sends the key, checks each response against its schema."""

    def __init__(self, client, key: str):
        self.client, self.key = client, key

    async def call(self, method: str, path: str, *, json=None, params=None, headers=None, data=None, key=None, schema=None) -> Reply:
        """One request; the response body is checked against `schema` or else the API's response schema."""
        sent = {"Authorization": f"Bearer {key or self.key}"} if (key or self.key) else {}
        sent.update(headers or {})
        resp = await self.client.request(method, path, json=json, params=params, headers=sent, data=data)
        assert resp.headers.get("X-Request-Id", "").startswith("req_")
        raw = await resp.read()
        if not raw:  # Frigade's 201/204 answers carry no body
            assert path.startswith("/v1/") and resp.status in (200, 201, 204)
            return Reply(resp.status, None, resp.headers)
        body = await resp.json(content_type=None)
        assert resp.content_type == "application/json"
        api = "control" if path.startswith("/__mock/") else "frigade" if path.startswith("/v1/") else "userflow"
        assert_valid(schema or f"{api}/response.json", body)
        if resp.status >= 400 and api == "userflow":
            assert body["error"]["request_id"] == resp.headers["X-Request-Id"]
        return Reply(resp.status, body, resp.headers)

    async def get(self, path, **kw):
        return await self.call("GET", path, **kw)

    async def post(self, path, json=None, **kw):
        return await self.call("POST", path, json=json, **kw)

    async def delete(self, path, **kw):
        return await self.call("DELETE", path, **kw)

    async def ok(self, method, path, status=200, **kw):
        reply = await self.call(method, path, **kw)
        assert reply.status == status, reply.body
        return reply.body


@pytest.fixture
def make_api(aiohttp_client):
    """make_api(**settings) -> Api on a fresh app with those settings and a fresh key."""
    async def make(key=None, **overrides) -> Api:
        settings = replace(Settings(fixtures=SMALL), **overrides)
        client = await aiohttp_client(create_app(settings))
        return Api(client, key or f"ak_test{next(_keys)}")
    return make


@pytest.fixture
async def api(make_api) -> Api:
    """The small fixture set: users alice, bob, carol, dave; groups acme, globex, initech."""
    return await make_api()


@pytest.fixture
async def seeded(make_api) -> Api:
    """The built-in data set."""
    return await make_api(fixtures=None)


class Receiver:
    def __init__(self):
        self.received: list[tuple[dict, bytes]] = []
        self.failures = 0  # answer 500 to this many requests first
        self.hold: asyncio.Event | None = None  # when set, requests wait for it
        self.delay = 0.0  # seconds each answer takes

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if self.hold is not None:
            await self.hold.wait()
        await asyncio.sleep(self.delay)
        self.received.append((dict(request.headers), raw))
        if self.failures:
            self.failures -= 1
            return web.Response(status=500)
        return web.Response(text="ok")

    def bodies(self):
        return [json.loads(raw) for _, raw in self.received]


@pytest.fixture
async def receiver(aiohttp_server):
    r = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", r.handle)
    server = await aiohttp_server(app)
    r.url = str(server.make_url("/hooks"))
    return r


def ensure_browser() -> tuple[str, str]:
    """Debian's chromium and chromedriver, installed here when missing and possible; otherwise the test is skipped."""
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver) and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "chromium", "chromium-driver"], env=env, capture_output=True, timeout=900)
        browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (browser and driver):
        pytest.skip("no headless browser: Debian's chromium and chromium-driver are not installed and could not be installed here")
    return browser, driver


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    """Headless Chromium driven by Selenium, with a fresh profile; the page's console is kept (get_log("browser")).
    Flags as on this machine kind: no sandbox as root, no background networking (its closed network refuses it)."""
    chromium, chromedriver = ensure_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver), options=options)  # the driver's path: Selenium never goes online
    yield driver
    driver.quit()
