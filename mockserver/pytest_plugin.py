"""pytest plugin (registered through the `pytest11` entry point): one mockserver for the test session,
and a fresh environment for every test that asks for the `mockserver` fixture.

The server runs in-process on a free port, in a thread of its own, so tests may be sync or async and
use any HTTP client. Set MOCKSERVER_URL to use a server that is already running (a CI sidecar).
"""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from mockserver.documents import DocumentError
from mockserver.files import FileProblem
from mockserver.settings import Settings, settings_from
from mockserver.state import StateError

USERFLOW_VERSION = "2020-01-03"


def pytest_addoption(parser):
    group = parser.getgroup("mockserver")
    group.addoption("--mockserver-seed", type=int, default=None, help="seed of the in-process mockserver (default 0)")
    group.addoption("--mockserver-fixtures", default=None, help="fixture file or folder of the in-process mockserver")
    parser.addini("mockserver_seed", "seed of the in-process mockserver", default=None)
    parser.addini("mockserver_fixtures", "fixture file or folder of the in-process mockserver", default=None)


class _Server:
    """A mockserver app on a free loopback port, in a background thread with its own event loop."""

    def __init__(self, settings: Settings):
        self.settings = replace(settings, port=0)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="mockserver", daemon=True)
        self.ready = threading.Event()
        self.error: BaseException | None = None
        self.url = ""

    def _run(self) -> None:
        from aiohttp import web

        from mockserver.app import create_app
        from mockserver.server import Runner

        asyncio.set_event_loop(self.loop)
        try:
            runner = Runner(create_app(self.settings), self.settings)
            self.loop.run_until_complete(runner.setup())
            self.loop.run_until_complete(web.TCPSite(runner, self.settings.host, 0).start())
            self.url = f"http://{self.settings.host}:{runner.addresses[0][1]}"
        except BaseException as exc:  # reported in the test session, not lost in the thread
            self.error = exc
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())
        self.loop.close()

    def start(self, timeout: float = 300) -> str:
        """The server's URL once it listens; the real error, at once, when it cannot start."""
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.05):
            if not self.thread.is_alive() or time.monotonic() > deadline:
                self.error = self.error or RuntimeError(f"no answer after {timeout:g} s" if self.thread.is_alive() else
                                                        "its thread ended without an error")
                break
        if self.error is not None:
            known = isinstance(self.error, (DocumentError, StateError, FileProblem, ValueError, OSError))
            raise RuntimeError(f"mockserver did not start: {self.error if known else repr(self.error)}") from self.error
        return self.url

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(30)


def _call(url: str, method: str = "GET", body: bytes | None = None, headers: dict | None = None):
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        raw = err.read()
        return err.code, json.loads(raw) if raw else None


def _slug(text: str, size: int, allowed: str = "") -> str:
    return "".join(c for c in text if c.isascii() and (c.isalnum() or c in allowed))[:size]


class MockserverEnvironment:
    """One test's view of the server: its own keys (so its own environment), journal, scenarios and webhooks.

    Keys and scenario names carry the test's name, so the journal, the inspector and verify reports say which test
    they belong to, and a random part, so parallel jobs on one shared server never meet.
    """

    def __init__(self, url: str, test_name: str = "test"):
        self.url = url.rstrip("/")
        token = secrets.token_hex(4)
        name = _slug(test_name.replace("[", "_"), 48, "_-") or "test"
        self.userflow_key = f"ak_{_slug(name, 48)}{token}"
        self.frigade_env = f"{name}-{token}"
        self.frigade_public_key = f"api_public_{self.frigade_env}"
        self.frigade_private_key = f"api_private_{self.frigade_env}"
        self.headers = {"Authorization": f"Bearer {self.userflow_key}", "Userflow-Version": USERFLOW_VERSION,
                        "Content-Type": "application/json"}
        self._scenarios: dict[str, bool] = {}  # name here -> verify it at teardown

    def frigade_headers(self, private: bool = False) -> dict[str, str]:
        key = self.frigade_private_key if private else self.frigade_public_key
        return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def _control(self, method: str, path: str, body=None, content_type: str = "application/json"):
        data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
        headers = {"Content-Type": content_type} if data is not None else {}
        if os.environ.get("MOCKSERVER_ADMIN_TOKEN"):  # an external server started with --admin-token
            headers["Authorization"] = f"Bearer {os.environ['MOCKSERVER_ADMIN_TOKEN']}"
        return _call(self.url + "/__mock" + path, method, data, headers)

    def requests(self) -> list[dict]:
        """This test's journal: every request it made to either API, oldest first, with the responses given."""
        entries = []
        for env in (self.userflow_key, self.frigade_env):
            entries += self._control("GET", "/requests?" + urllib.parse.urlencode({"env": env}))[1]["requests"]
        return sorted(entries, key=lambda e: e["seq"])

    def webhooks(self, wait: float = 5.0) -> list[dict]:
        """Every webhook delivery attempt for this test's environments, once none is pending (up to `wait` seconds)."""
        deadline = time.monotonic() + wait
        while True:
            replies = [self._control("GET", "/webhooks?" + urllib.parse.urlencode({"env": env}))[1]
                       for env in (self.userflow_key, self.frigade_env)]
            if all(r["pending"] == 0 for r in replies) or time.monotonic() > deadline:
                return sorted((a for r in replies for a in r["attempts"]), key=lambda a: a["time"])
            time.sleep(0.05)

    def load_scenario(self, source, verify: bool = True) -> str:
        """Load a scenario (a path, a YAML/JSON text, or a dict) for this test's environment; returns its name here.

        Without an `env` it applies to this test's Frigade environment when every request step is under /v1/,
        else to its Userflow environment. Its name gets this test's prefix, so parallel tests never collide.
        Unless `verify=False`, it is verified when the test ends (a test that forgets verify() does not pass).
        """
        __tracebackhide__ = True
        if isinstance(source, (str, Path)) and Path(source).suffix in (".yaml", ".yml", ".json") and Path(source).exists():
            source = Path(source).read_text(encoding="utf-8")
        doc = yaml.safe_load(source) if isinstance(source, str) else dict(source)
        if "env" not in doc:
            paths = [s["request"]["path"] for s in doc.get("steps", []) if "request" in s]
            doc["env"] = self.frigade_env if paths and all(p.startswith("/v1/") for p in paths) else self.userflow_key
        doc["name"] = f"{self.frigade_env}.{doc.get('name', 'scenario')}"
        status, body = self._control("POST", "/scenarios", doc)
        if status != 201:
            raise ValueError(body["error"]["message"])
        self._scenarios[doc["name"]] = verify
        return doc["name"]

    def _unmet(self, names) -> list[str]:
        reports = []
        for name in names:
            status, body = self._control("POST", f"/scenarios/{urllib.parse.quote(name, safe='')}/verify")
            if status != 200:
                reports.append(body.get("report") or body["error"]["message"])
        return reports

    def verify(self) -> None:
        """Raise AssertionError with the readable report if any scenario this test loaded is not met."""
        __tracebackhide__ = True
        reports = self._unmet(self._scenarios)
        if reports:
            raise AssertionError("\n".join(reports))

    def verify_at_teardown(self) -> None:
        """The scenarios loaded without verify=False, checked once more as the test ends."""
        __tracebackhide__ = True
        reports = self._unmet(name for name, wanted in self._scenarios.items() if wanted)
        if reports:
            pytest.fail("scenarios this test loaded are not met at its end (call mockserver.verify() in the test to see "
                        "it there, or load_scenario(..., verify=False) to not check it):\n" + "\n".join(reports), pytrace=False)

    def reset(self) -> None:
        """This test's environments back to the seeded state."""
        for env in (self.userflow_key, self.frigade_env):
            self._control("POST", "/reset", {"env": env})

    def close(self) -> None:
        for name in self._scenarios:
            self._control("DELETE", f"/scenarios/{urllib.parse.quote(name, safe='')}")
        self.reset()


@pytest.fixture(scope="session")
def mockserver_settings(pytestconfig) -> Settings:
    """The in-process server's settings; override this fixture to set anything else."""
    seed = pytestconfig.getoption("mockserver_seed") or pytestconfig.getini("mockserver_seed")
    fixtures = pytestconfig.getoption("mockserver_fixtures") or pytestconfig.getini("mockserver_fixtures")
    return settings_from({"seed": int(seed) if seed is not None else None, "fixtures": Path(fixtures) if fixtures else None,
                          "quiet": True}, environ={})


@pytest.fixture(scope="session")
def mockserver_url(mockserver_settings):
    """The server for the session: MOCKSERVER_URL if set (waited for), else one started in-process."""
    external = os.environ.get("MOCKSERVER_URL")
    server = None if external else _Server(mockserver_settings)
    url, problem = "", None
    try:
        url = server.start() if server else _wait_for_sidecar(external.rstrip("/"))
    except RuntimeError as exc:
        problem = str(exc)
    if problem:  # every test that needs the server fails at once, with this one line
        pytest.fail(problem, pytrace=False)
    yield url
    if server:
        server.stop()


def _wait_for_sidecar(url: str, timeout: float = 30) -> str:
    """A server that refuses connections may still be starting: wait for it. Anything else that is not a mockserver's
    health answer fails at once, saying what answered."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            status, body = _call(url + "/__mock/health")
        except ValueError:
            raise RuntimeError(f"MOCKSERVER_URL={url} is not a mockserver: /__mock/health did not answer JSON") from None
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"MOCKSERVER_URL={url}: no server answered within {timeout:g} s ({exc})") from None
            time.sleep(0.1)
            continue
        if status == 200 and body == {"status": "ok"}:
            return url
        raise RuntimeError(f"MOCKSERVER_URL={url} is not a mockserver: /__mock/health answered {status} {body!r}")


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


@pytest.fixture
def mockserver(mockserver_url, request) -> MockserverEnvironment:
    """A fresh environment of the session's server for this test; its scenarios are verified (unless the test failed
    already) and removed afterwards."""
    env = MockserverEnvironment(mockserver_url, request.node.name)
    yield env
    try:
        if not request.node.stash.get(_CALL_FAILED, True):
            env.verify_at_teardown()
    finally:
        env.close()
