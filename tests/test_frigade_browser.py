"""The real @frigade/react SDK in headless Chromium against the mock, the page on another origin than the API.

tests/browser/frigade-app is the smallest app that renders a Frigade checklist; npm installs it from the registry
(pinned by its lockfile) and esbuild bundles it. This is what a user's frontend test does, so it catches what
tests/test_frigade.py cannot: the SDK's own calls, their order, its reading of our answers, and CORS
(DESIGN section 10), without which a browser on another origin gets nothing at all.
"""
import json
import os
import secrets
import shutil
import subprocess
import threading
import time
import urllib.request
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest

from mockserver.pytest_plugin import _Server
from mockserver.settings import Settings

APP = Path(__file__).parent / "browser" / "frigade-app"
USER = "browser-user"


def ensure_node() -> str:
    """npm (and node), from Debian when missing and possible; otherwise the test is skipped."""
    npm = shutil.which("npm") if shutil.which("node") else None
    if not npm and shutil.which("apt-get") and os.geteuid() == 0:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "nodejs", "npm"], env=env, capture_output=True, timeout=900)
        npm = shutil.which("npm") if shutil.which("node") else None
    if not npm:
        pytest.skip("no Node.js: Debian's nodejs and npm are not installed and could not be installed here")
    return npm


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The app, bundled and served from its own origin (another port than any mock). node_modules stays between runs
    (gitignored); `npm ci` runs again only when it is missing or older than package-lock.json (npm writes
    node_modules/.package-lock.json last, so an interrupted install counts as missing)."""
    npm = ensure_node()
    installed, lock = APP / "node_modules" / ".package-lock.json", APP / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        done = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=APP, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, f"npm ci failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    out = tmp_path_factory.mktemp("frigade-app")
    done = subprocess.run([str(APP / "node_modules" / ".bin" / "esbuild"), "src/app.jsx", "--bundle", "--minify", "--format=iife",
                           "--platform=browser", "--target=es2020", "--jsx=automatic", '--define:process.env.NODE_ENV="production"',
                           f"--outfile={out / 'bundle.js'}", "--log-level=warning"], cwd=APP, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"esbuild failed:\n{done.stderr}"
    shutil.copy(APP / "public" / "index.html", out)

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Quiet, directory=str(out)))
    threading.Thread(target=httpd.serve_forever, name="frigade-app", daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


def start_mock(**settings) -> _Server:
    """A mock of its own, in-process, with the built-in data set (its checklist: "Onboarding checklist", setup-1..5)."""
    server = _Server(Settings(quiet=True, **settings))
    server.start()
    return server


@pytest.fixture(scope="module")
def mock():
    server = start_mock()
    yield server
    server.stop()


def call(url, key=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


def wait_for(condition, timeout=10.0):
    """The first true value of `condition()`. A miss tries again, as does an element React has just re-rendered (stale)
    or one still sliding open (not yet clickable)."""
    from selenium.common.exceptions import ElementClickInterceptedException, ElementNotInteractableException, StaleElementReferenceException
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
            if value:
                return value
        except (StaleElementReferenceException, ElementNotInteractableException, ElementClickInterceptedException, IndexError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s" + (f" waiting for {condition.__doc__}" if condition.__doc__ else ""))
        time.sleep(0.05)


class Session:
    """The app in the browser against one mock and environment. When the test fails, the browser's console and the
    mock's journal are printed: the console is read before every navigation, which would otherwise lose it."""

    def __init__(self, browser, site, mock: _Server):
        self.browser, self.site, self.mock = browser, site, mock.url
        self.env = f"browser{secrets.token_hex(4)}"  # never seen before, so reruns start clean
        self.slug = next(f["slug"] for f in self.flows() if f["name"] == "Onboarding checklist")
        self.console = []

    def flows(self):
        return call(f"{self.mock}/v1/flows", key=f"api_private_{self.env}")["data"]

    def open(self):
        self.console += self.browser.get_log("browser")
        self.browser.get(f"{self.site}?" + urlencode({"apiUrl": self.mock, "apiKey": f"api_public_{self.env}", "userId": USER,
                                                       "flowId": self.slug}))

    def reload(self):
        self.console += self.browser.get_log("browser")
        self.browser.refresh()

    def journal(self, **query):
        return call(f"{self.mock}/__mock/requests?" + urlencode(query))["requests"]

    def css(self, selector):
        from selenium.webdriver.common.by import By
        return self.browser.find_elements(By.CSS_SELECTOR, selector)

    def probe(self):
        status = self.css("#flow-status")[0]
        return {k: status.get_attribute(f"data-{k}") for k in ("loaded", "completed", "visible", "completed-steps")}

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is not None:
            try:
                self.console += self.browser.get_log("browser")
            finally:
                print("--- browser console ---", *(f"[{c['level']}] {c['message']}" for c in self.console), sep="\n")
                print("--- mock journal (preflights carry no key, so no env) ---", *map(summary, self.journal()), sep="\n")


def summary(entry) -> str:
    body = entry["request"]["body"] if isinstance(entry["request"]["body"], dict) else {}
    return " ".join(str(x) for x in (entry["env"], entry["method"], entry["path"], entry["response"]["status"],
                                     body.get("actionType", ""), body.get("stepId", "")))


def test_the_sdk_completes_a_checklist_against_the_mock(browser, site, mock):
    """A user clicks through the checklist: the SDK reports every step and the flow, in order, and after a reload the
    mock's state is what the SDK shows (the flow done, so no checklist)."""
    with Session(browser, site, mock) as app:
        flow = next(f for f in app.flows() if f["slug"] == app.slug)
        steps = json.loads(flow["data"])["steps"]
        ids = [s["id"] for s in steps]
        app.open()
        checklist = f'.fr-checklist[data-flow-id="{app.slug}"]'
        shown = wait_for(lambda: [e.text for e in app.css(f"{checklist} .fr-collapsible-step .fr-collapsible-title")])
        assert shown == [s["title"] for s in steps] and len(shown) == 5
        assert app.css(f"{checklist} .fr-card-title, {checklist} .fr-title")[0].text == "Onboarding checklist"
        assert app.css(f"{checklist} .fr-progress-text")[0].text == "0/5"

        for done, step in enumerate(ids, start=1):
            wait_for(lambda: app.css(f'{checklist} [data-step-id="{step}"][data-state="open"] button.fr-button-primary')[0].click() or True)
            if done < len(ids):
                wait_for(lambda: app.css(f"{checklist} .fr-progress-text")[0].text == f"{done}/5")
        wait_for(lambda: not app.css(checklist))  # the last step completes the flow, which hides the checklist

        def actions():
            """the SDK's COMPLETED_FLOW in the journal"""
            posted = [e["request"]["body"] for e in app.journal(env=app.env, method="POST", path="/v1/public/flowStates")]
            sent = [(b["actionType"], b.get("stepId")) for b in posted if "actionType" in b]
            return sent if ("COMPLETED_FLOW", None) in sent else None
        sent = wait_for(actions)
        assert [s for a, s in sent if a == "COMPLETED_STEP"] == ids
        assert [a for a, _ in sent].count("COMPLETED_FLOW") == 1
        assert [(e["method"], e["path"], e["response"]["status"]) for e in app.journal(env=app.env) if e["response"]["status"] >= 400] == []
        assert {e["response"]["status"] for e in app.journal(method="OPTIONS")} == {204}  # the preflights, which carry no key

        app.reload()
        wait_for(lambda: app.probe()["loaded"] == "true")
        assert app.probe() == {"loaded": "true", "completed": "true", "visible": "false", "completed-steps": "5"}
        assert not app.css(checklist)
        app.console += browser.get_log("browser")
        assert [c for c in app.console if c["level"] == "SEVERE"] == []


def test_without_cors_for_its_origin_the_sdk_gets_nothing(browser, site):
    """The same app against a mock that allows another origin only: the browser stops at the preflight (403), so the SDK
    never sends a request and renders nothing. This is what any mock without CORS does to a frontend test."""
    mock = start_mock(cors_origins=("http://some-other-origin.test",))
    try:
        with Session(browser, site, mock) as app:
            app.open()
            refused = wait_for(lambda: [e for e in app.journal(method="OPTIONS") if e["response"]["status"] == 403])
            assert refused[0]["request"]["headers"]["Origin"] == site.rsplit("/", 1)[0]
            time.sleep(2)  # what the SDK would do next, were it allowed
            assert not app.css(".fr-checklist") and app.probe()["loaded"] == "false"
            assert app.journal(method="POST", path="/v1/public/flowStates") == []
    finally:
        mock.stop()
